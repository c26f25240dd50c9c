// panva's openid-client as a secretless (private_key_jwt) client of a Keyloft server: discover
// the server from its RFC 8414 metadata, mint a client credentials token, introspect it.
//
// Input (environment): KEYLOFT_ISSUER, the issuer URL; KEYLOFT_CLIENT_ID, the client key;
// KEYLOFT_PRIVATE_JWK, the client's private key as a JWK (RSA, EC P-256/P-384 or Ed25519,
// with its kid).
// Output (stdout, one JSON object): {"ok": true, "metadata", "token", "introspection"} on
// success, exit code 0; {"ok": false, "name", "code", "status", "error", "error_description",
// and "challenges" when the answer had WWW-Authenticate} when the library reports a refusal,
// exit code 3. Anything else is a crash: a stack trace on stderr and exit code 1.
import * as client from 'openid-client';

const SIGNING = {
  RSA: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  'EC:P-256': { name: 'ECDSA', namedCurve: 'P-256' },
  'EC:P-384': { name: 'ECDSA', namedCurve: 'P-384' },
  'OKP:Ed25519': { name: 'Ed25519' },
};

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function importPrivateKey(jwk) {
  const algorithm = SIGNING[jwk.crv ? `${jwk.kty}:${jwk.crv}` : jwk.kty];
  if (!algorithm) throw new Error(`unsupported key: kty ${jwk.kty}, crv ${jwk.crv}`);
  const { alg: _alg, ...material } = jwk; // WebCrypto checks alg against its own names
  const key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  return { key, kid: jwk.kid };
}

async function main() {
  const issuer = new URL(required('KEYLOFT_ISSUER'));
  const clientId = required('KEYLOFT_CLIENT_ID');
  const jwk = JSON.parse(required('KEYLOFT_PRIVATE_JWK'));
  const privateKey = await importPrivateKey(jwk);
  try {
    const config = await client.discovery(
      issuer,
      clientId,
      undefined,
      client.PrivateKeyJwt(privateKey),
      // RFC 8414 metadata; plain HTTP, as the test server listens on 127.0.0.1 only.
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    const token = await client.clientCredentialsGrant(config);
    const introspection = await client.tokenIntrospection(config, token.access_token);
    const answer = {
      ok: true,
      metadata: config.serverMetadata(),
      token: { ...token },
      introspection: { ...introspection },
    };
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify(await refusal(error))}\n`);
    process.exitCode = 3;
  }
}

// How the library reports a refusal: a ResponseBodyError (an OAuth error body), or, when the
// answer carries a WWW-Authenticate challenge, a WWWAuthenticateChallengeError whose response
// body is still unread. Anything else is rethrown.
async function refusal(error) {
  if (error instanceof client.ResponseBodyError) {
    const { name, code, status, error: oauthError, error_description } = error;
    return { ok: false, name, code, status, error: oauthError, error_description };
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const { name, code, status } = error;
    const body = await error.response.json();
    return { ok: false, name, code, status, challenges: error.cause, ...body };
  }
  throw error;
}

await main();
