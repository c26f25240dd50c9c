// panva's openid-client as a DPoP (RFC 9449) client of a Keyloft server: discover the server from
// its RFC 8414 metadata, mint a client credentials token bound to a fresh key pair, and call
// Keyloft's management API (GET /v3/integrations/scopes) with it, twice: with the DPoP handle the
// token was minted with, then with a second handle of the same key pair, which knows no nonce
// yet (as a client that keeps one handle per server would).
//
// Input (environment): KEYLOFT_ISSUER, the issuer URL; KEYLOFT_CLIENT_ID and
// KEYLOFT_CLIENT_SECRET, the client's key and secret; KEYLOFT_CLIENT_AUTH, "basic" or "post"
// (client_secret_basic or client_secret_post); KEYLOFT_DPOP_ALG, the algorithm of the DPoP key
// pair (ES256 unless set; any that openid-client's randomDPoPKeyPair makes).
// Output (stdout, one JSON object): {"ok": true, "metadata", "publicJwk", "token", "calls",
// "exchanges"} on success, exit code 0, where "calls" are the two protected resource answers
// ({"status", "body"}) and "exchanges" every HTTP request the library sent after discovery
// ({"method", "url", "authorization", "dpop", "status", "wwwAuthenticate", "dpopNonce",
// "body"}), in order. {"ok": false, "publicJwk", "exchanges", "name", "code", "status",
// "error", "error_description", and "challenges" when the answer had WWW-Authenticate} when the
// library reports a refusal, exit code 3. Anything else is a crash: a stack trace on stderr and
// exit code 1.
import * as client from 'openid-client';

const AUTH = { basic: client.ClientSecretBasic, post: client.ClientSecretPost };

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// A fetch that records each exchange; the answer is cloned, so the library still reads its own.
function recording(exchanges) {
  return async (url, options) => {
    const response = await fetch(url, options);
    const headers = new Headers(options.headers);
    exchanges.push({
      method: options.method ?? 'GET',
      url: String(url),
      authorization: headers.get('authorization'),
      dpop: headers.get('dpop'),
      status: response.status,
      wwwAuthenticate: response.headers.get('www-authenticate'),
      dpopNonce: response.headers.get('dpop-nonce'),
      body: await response.clone().text(),
    });
    return response;
  };
}

async function main() {
  const issuer = new URL(required('KEYLOFT_ISSUER'));
  const clientId = required('KEYLOFT_CLIENT_ID');
  const clientSecret = required('KEYLOFT_CLIENT_SECRET');
  const auth = AUTH[required('KEYLOFT_CLIENT_AUTH')];
  if (!auth) throw new Error(`KEYLOFT_CLIENT_AUTH must be one of ${Object.keys(AUTH)}`);
  const keyPair = await client.randomDPoPKeyPair(process.env.KEYLOFT_DPOP_ALG || 'ES256');
  const publicJwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  const exchanges = [];
  try {
    const config = await client.discovery(
      issuer,
      clientId,
      undefined,
      auth(clientSecret),
      // RFC 8414 metadata; plain HTTP, as the test server listens on 127.0.0.1 only.
      { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
    );
    config[client.customFetch] = recording(exchanges);
    const DPoP = client.getDPoPHandle(config, keyPair);
    const token = await client.clientCredentialsGrant(config, {}, { DPoP });
    const resource = new URL(`${issuer.href.replace(/\/$/, '')}/v3/integrations/scopes`);
    const calls = [];
    for (const handle of [DPoP, client.getDPoPHandle(config, keyPair)]) {
      const response = await client.fetchProtectedResource(
        config,
        token.access_token,
        resource,
        'GET',
        undefined,
        undefined,
        { DPoP: handle },
      );
      calls.push({ status: response.status, body: await response.json() });
    }
    const answer = {
      ok: true,
      metadata: config.serverMetadata(),
      publicJwk,
      token: { ...token },
      calls,
      exchanges,
    };
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  } catch (error) {
    const answer = { ...(await refusal(error)), publicJwk, exchanges };
    process.stdout.write(`${JSON.stringify(answer)}\n`);
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
