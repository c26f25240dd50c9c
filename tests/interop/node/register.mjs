// panva's openid-client registering itself with a Keyloft server through its dynamic client
// registration helper (RFC 7591): discover the server from its RFC 8414 metadata, register with
// an initial access token, then mint a client credentials token with the credentials the
// registration answered (the secret it was issued, or its own private key).
//
// Input (environment): KEYLOFT_ISSUER, the issuer URL; KEYLOFT_METADATA, the client metadata
// to register (JSON); KEYLOFT_INITIAL_ACCESS_TOKEN, the initial access token (optional: without
// it the registration is refused); KEYLOFT_PRIVATE_JWK, the private key of a private_key_jwt
// client, as a JWK with its kid (optional); KEYLOFT_SCOPE, the scope of the token (optional).
// Output (stdout, one JSON object): {"ok": true, "metadata", "registered", "token"} on
// success, exit code 0, where "registered" is the client metadata the library holds (the
// registration's answer); {"ok": false, "name", "code", "status", "error",
// "error_description", and "challenges" when the answer had WWW-Authenticate} when the
// library reports a refusal, exit code 3. Anything else is a crash: a stack trace on stderr
// and exit code 1.
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

async function privateKeyJwt(text) {
  const jwk = JSON.parse(text);
  const algorithm = SIGNING[jwk.crv ? `${jwk.kty}:${jwk.crv}` : jwk.kty];
  if (!algorithm) throw new Error(`unsupported key: kty ${jwk.kty}, crv ${jwk.crv}`);
  const { alg: _alg, ...material } = jwk; // WebCrypto checks alg against its own names
  const key = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);
  return client.PrivateKeyJwt({ key, kid: jwk.kid });
}

async function main() {
  const issuer = new URL(required('KEYLOFT_ISSUER'));
  const metadata = JSON.parse(required('KEYLOFT_METADATA'));
  const jwk = process.env.KEYLOFT_PRIVATE_JWK;
  const authentication = jwk ? await privateKeyJwt(jwk) : undefined;
  const scope = process.env.KEYLOFT_SCOPE;
  try {
    const config = await client.dynamicClientRegistration(issuer, metadata, authentication, {
      initialAccessToken: process.env.KEYLOFT_INITIAL_ACCESS_TOKEN || undefined,
      // RFC 8414 metadata; plain HTTP, as the test server listens on 127.0.0.1 only.
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests],
    });
    const token = await client.clientCredentialsGrant(config, scope ? { scope } : undefined);
    const answer = {
      ok: true,
      metadata: config.serverMetadata(),
      registered: config.clientMetadata(),
      token: { ...token },
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
