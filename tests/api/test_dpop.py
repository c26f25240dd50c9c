"""DPoP (RFC 9449) end to end in one node: tokens bound at both token endpoints (cnf.jkt,
token type DPoP), proofs refused as RFC 9449 §4.3 and §5 say, server nonces, and the binding
enforced where Keyloft checks tokens itself — its management API and the decision point —
with the DPoP challenge and nothing about why."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keyloft.domain.client_keys import thumbprint
from keyloft.domain.dpop import token_hash
from tests.support.api import ISSUER, OrgFixture, client_basic, create_client

TOKEN_URL = f"{ISSUER}/oauth2/token"
SCOPES = "/v3/integrations/scopes"
ALL_READ = [{"entityId": 2, "permission": "READ", "resources": []}]


class Holder:
    """A client's DPoP key, signing proofs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.jkt = thumbprint(self.jwk)

    def proof(self, method: str, url: str, **claims: Any) -> str:
        body = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
        return jwt.encode(
            body | claims, self.key, "ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk}
        )


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org, scopes=ALL_READ)


async def bound_token(http: httpx.AsyncClient, client: dict[str, Any], holder: Holder) -> str:
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(client["clientKey"], client["clientSecret"])
        | {"DPoP": holder.proof("POST", TOKEN_URL)},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "DPoP"
    token: str = body["access_token"]
    return token


async def test_a_proof_binds_the_token_to_its_key(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder
) -> None:
    token = await bound_token(http, client, holder)
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": holder.jkt}
    v3 = await http.post(
        "/v3/oauth/token/generate",
        json={"key": client["clientKey"], "secret": client["clientSecret"]},
        headers={"DPoP": holder.proof("POST", f"{ISSUER}/v3/oauth/token/generate")},
    )
    assert v3.status_code == 200, v3.text
    data = v3.json()["data"]
    assert data["tokenType"] == "DPoP"
    claims = jwt.decode(data["accessToken"], options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": holder.jkt}
    plain = await http.post(
        "/v3/oauth/token/generate",
        json={"key": client["clientKey"], "secret": client["clientSecret"]},
    )
    assert set(plain.json()["data"]) == {"accessToken", "ttlSeconds"}  # the contract's answer
    introspected = await http.post(
        "/oauth2/introspect",
        data={"token": token},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    assert introspected.json()["cnf"] == {"jkt": holder.jkt}
    assert introspected.json()["token_type"] == "DPoP"


@pytest.mark.parametrize(
    "proof",
    [
        lambda h: h.proof("GET", TOKEN_URL),
        lambda h: h.proof("POST", "http://attacker.test/oauth2/token"),
        lambda h: h.proof("POST", f"{ISSUER}/oauth2/introspect"),
        lambda h: h.proof("POST", TOKEN_URL, iat=int(time.time()) - 3600),
        lambda h: "not.a.proof",
    ],
)
async def test_a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder, proof: Any
) -> None:
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(client["clientKey"], client["clientSecret"]) | {"DPoP": proof(holder)},
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_dpop_proof",
        "error_description": "The DPoP proof is invalid.",
    }


async def test_a_proof_is_used_once(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder
) -> None:
    proof = holder.proof("POST", TOKEN_URL)
    auth = client_basic(client["clientKey"], client["clientSecret"])
    form = {"grant_type": "client_credentials"}
    assert (await http.post("/oauth2/token", data=form, headers=auth | {"DPoP": proof})).is_success
    again = await http.post("/oauth2/token", data=form, headers=auth | {"DPoP": proof})
    assert again.json()["error"] == "invalid_dpop_proof"


async def test_a_client_whose_tokens_must_be_bound_needs_a_proof(
    http: httpx.AsyncClient, org: OrgFixture, holder: Holder
) -> None:
    bound = await create_client(http, org, scopes=ALL_READ, dpopBoundAccessTokens=True)
    assert bound["dpopBoundAccessTokens"] is True
    auth = client_basic(bound["clientKey"], bound["clientSecret"])
    form = {"grant_type": "client_credentials"}
    refused = await http.post("/oauth2/token", data=form, headers=auth)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_dpop_proof"
    proved = await http.post(
        "/oauth2/token", data=form, headers=auth | {"DPoP": holder.proof("POST", TOKEN_URL)}
    )
    assert proved.json()["token_type"] == "DPoP"


async def test_the_management_api_takes_a_bound_token_only_with_its_proof(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder
) -> None:
    token = await bound_token(http, client, holder)
    url = f"{ISSUER}{SCOPES}"

    def proof(**claims: Any) -> str:
        return holder.proof("GET", url, **({"ath": token_hash(token)} | claims))

    good = await http.get(SCOPES, headers={"Authorization": f"DPoP {token}", "DPoP": proof()})
    assert good.status_code == 200, good.text
    refusals = [
        await http.get(SCOPES, headers={"Authorization": f"Bearer {token}"}),
        await http.get(SCOPES, headers={"X-CAP-API-OAUTH-TOKEN": token}),
        await http.get(SCOPES, headers={"Authorization": f"DPoP {token}"}),
        await http.get(SCOPES, headers={"Authorization": f"DPoP {token}", "DPoP": proof(ath="x")}),
        await http.get(
            SCOPES,
            headers={"Authorization": f"DPoP {token}", "DPoP": Holder().proof("GET", url)},
        ),
        await http.get(
            SCOPES,
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": holder.proof("POST", url, ath=token_hash(token)),
            },
        ),
    ]
    for refused in refusals:
        assert refused.status_code == 401, refused.text
        assert refused.headers["WWW-Authenticate"].startswith("DPoP ")
        assert refused.json()["errors"][0]["code"] == 3003
    # A proof of another key carrying this token's hash: the key is not the bound one.
    other = Holder()
    stolen = other.proof("GET", url, ath=token_hash(token))
    answer = await http.get(SCOPES, headers={"Authorization": f"DPoP {token}", "DPoP": stolen})
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


async def test_an_unbound_token_is_not_taken_with_the_dpop_scheme(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder
) -> None:
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(client["clientKey"], client["clientSecret"]),
    )
    token = answer.json()["access_token"]
    proof = holder.proof("GET", f"{ISSUER}{SCOPES}", ath=token_hash(token))
    refused = await http.get(SCOPES, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert refused.status_code == 401
    assert (await http.get(SCOPES, headers={"Authorization": f"Bearer {token}"})).is_success


async def test_the_decision_point_enforces_the_binding(
    http: httpx.AsyncClient, client: dict[str, Any], holder: Holder
) -> None:
    token = await bound_token(http, client, holder)
    call = "https://api.example.test/v3/customers/1"
    body = {"token": token, "method": "GET", "path": "/v3/customers/1"}
    as_bearer = (await http.post("/v3/oauth/check", json=body)).json()["data"]
    assert (as_bearer["allowed"], as_bearer["reason"]) == (False, "invalid_token")
    proof = holder.proof("GET", call, ath=token_hash(token))
    with_proof = await http.post(
        "/v3/oauth/check", json=body | {"tokenType": "DPoP", "dpop": proof, "url": call}
    )
    assert with_proof.json()["data"]["allowed"] is True
    replayed = await http.post(
        "/v3/oauth/check", json=body | {"tokenType": "DPoP", "dpop": proof, "url": call}
    )
    assert replayed.json()["data"]["reason"] == "invalid_dpop_proof"

    forwarded = {
        "Authorization": f"DPoP {token}",
        "X-Original-Method": "GET",
        "X-Original-URI": "/v3/customers/1",
        "X-Original-URL": call,
    }
    fresh = holder.proof("GET", call, ath=token_hash(token))
    allowed = await http.get("/v3/oauth/check", headers=forwarded | {"DPoP": fresh})
    assert allowed.status_code == 200
    elsewhere = holder.proof("GET", "https://api.example.test/v3/other", ath=token_hash(token))
    refused = await http.get("/v3/oauth/check", headers=forwarded | {"DPoP": elsewhere})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('DPoP realm="keyloft"')
    bearer = forwarded | {"Authorization": f"Bearer {token}"}
    assert (await http.get("/v3/oauth/check", headers=bearer)).status_code == 401


async def test_metadata_names_the_proof_algorithms(http: httpx.AsyncClient) -> None:
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert "ES256" in meta["dpop_signing_alg_values_supported"]
    assert not [a for a in meta["dpop_signing_alg_values_supported"] if a.startswith("HS")]
