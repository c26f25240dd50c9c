"""private_key_jwt (RFC 7523 §2.2): clients without a secret, authenticated by an assertion
signed with a key they registered inline (``jwks``).

Covers: creating such a client (no secret) and what its answer shows; minting at /oauth2/token
and at the v3 token call with every allowed algorithm, with or without ``client_id``, for either
audience; every refusal (expired, too long-lived, no ``exp`` or ``jti``, a replayed ``jti``,
wrong audience or issuer, ``alg: none``, HMAC keyed with the public key, a key used under
another algorithm family, unknown ``kid``, a key not registered, another client named, a deleted
client, mixed methods) answering exactly as a wrong secret does and minting nothing; JWK Set
validation on create and update, which leaves the stored state unchanged; secret rotation
refused; switching methods both ways, with the audit trail; the RFC 8414 metadata.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyloft.runtime import Runtime
from tests.support.api import ISSUER, OrgFixture, client_basic, create_client
from tests.support.fake_idp import (
    CLIENTS,
    ClientKey,
    Refusals,
    alg_none,
    assertion,
    ed25519_named,
    hmac_forged,
    jwks,
    keyloft_claims,
    present,
    present_v3,
    private_jwk,
    read_client,
    relabelled,
)

ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]
KIND_OF = {"RS256": "RSA", "PS256": "RSA", "ES256": "P-256", "ES384": "P-384", "EdDSA": "Ed25519"}
TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"
AUDIT = "/v3/integrations/audit"
PKJWT = "private_key_jwt"


async def keyed_client(
    http: httpx.AsyncClient, org: OrgFixture, *keys: ClientKey, **overrides: Any
) -> dict[str, Any]:
    return await create_client(
        http, org, tokenEndpointAuthMethod=PKJWT, jwks=jwks(*keys), **overrides
    )


def update_body(client: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A PUT body keeping ``client`` as it is but for ``changes``."""
    kept = ("name", "description", "expirationTokenTime", "defaultTillId", "scopes")
    return {name: client[name] for name in kept} | changes


async def minted(
    http: httpx.AsyncClient, key: str, client_key: ClientKey, *, endpoint: str = "oauth"
) -> str:
    """A fresh, well-formed assertion is accepted: the access token it was given."""
    if endpoint == "oauth":
        answer = await present(http, assertion(key, client_key, ISSUER), key)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token
    answer = await present_v3(http, key, assertion(key, client_key, ISSUER))
    assert answer.status_code == 200, answer.text
    token = answer.json()["data"]["accessToken"]
    return token


@pytest.fixture
def key() -> ClientKey:
    return ClientKey.make("P-256")


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture, key: ClientKey) -> dict[str, Any]:
    return await keyed_client(http, org, key, name="keyed")


# --- creating and minting -------------------------------------------------------------------


async def test_created_without_a_secret(
    http: httpx.AsyncClient, org: OrgFixture, key: ClientKey, client: dict[str, Any]
) -> None:
    assert "clientSecret" not in client
    assert client["tokenEndpointAuthMethod"] == PKJWT
    shown = await read_client(http, org.auth, client["clientKey"])
    assert "clientSecret" not in shown
    assert shown["tokenEndpointAuthMethod"] == PKJWT
    assert shown["jwks"] == jwks(key)
    assert shown["jwksUri"] is None
    assert shown["federatedCredentials"] == []
    assert shown["lastUsedCredential"] is None
    [summary] = shown["keys"]
    assert set(summary) == {"kid", "kty", "alg", "crv", "thumbprint", "lastUsedOn"}
    assert summary["kid"] == key.kid
    assert summary["kty"] == "EC"
    assert summary["crv"] == "P-256"
    assert summary["thumbprint"] == key.thumbprint
    assert summary["lastUsedOn"] is None


async def test_a_secret_client_shows_the_defaults(http: httpx.AsyncClient, org: OrgFixture) -> None:
    created = await create_client(http, org, name="secret")
    assert isinstance(created["clientSecret"], str)
    shown = await read_client(http, org.auth, created["clientKey"])
    assert shown["tokenEndpointAuthMethod"] == "client_secret_basic"
    assert shown["jwks"] is None
    assert shown["jwksUri"] is None
    assert shown["federatedCredentials"] == []
    assert shown["keys"] == []
    assert shown["lastUsedCredential"] is None


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_each_algorithm_mints_at_both_endpoints(
    http: httpx.AsyncClient, org: OrgFixture, alg: str
) -> None:
    signer = ClientKey.make(KIND_OF[alg], alg=alg)
    client = await keyed_client(http, org, signer, name=f"alg-{alg.lower()}")
    key = client["clientKey"]

    answer = await present(http, assertion(key, signer, ISSUER), key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == client["expirationTokenTime"]
    claims = await keyloft_claims(http, body["access_token"])
    assert claims["client_id"] == claims["sub"] == key

    v3 = await present_v3(http, key, assertion(key, signer, ISSUER))
    assert v3.status_code == 200, v3.text
    assert v3.json()["errors"] is None
    assert set(v3.json()["data"]) == {"accessToken", "ttlSeconds"}
    assert v3.json()["data"]["ttlSeconds"] == client["expirationTokenTime"]
    v3_claims = await keyloft_claims(http, v3.json()["data"]["accessToken"])
    assert v3_claims["sub"] == v3_claims["client_key"] == key
    assert v3_claims["client_id"] == client["id"]


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_ENDPOINT], ids=["issuer", "token-endpoint"])
@pytest.mark.parametrize("with_client_id", [True, False], ids=["client_id", "no-client_id"])
async def test_audiences_and_client_id_are_accepted(
    http: httpx.AsyncClient,
    key: ClientKey,
    client: dict[str, Any],
    aud: str,
    with_client_id: bool,
) -> None:
    client_key = client["clientKey"]
    answer = await present(
        http, assertion(client_key, key, aud), client_key if with_client_id else None
    )
    assert answer.status_code == 200, answer.text
    claims = await keyloft_claims(http, answer.json()["access_token"])
    assert claims["client_id"] == claims["sub"] == client_key
    v3 = await present_v3(http, client_key, assertion(client_key, key, aud))
    assert v3.status_code == 200, v3.text


@pytest.mark.parametrize(
    ("shift", "lifetime"),
    [
        pytest.param(0, 300, id="exp-exactly-5-minutes-ahead"),
        pytest.param(30, 120, id="issued-30s-ahead-within-skew"),
        pytest.param(-100, 70, id="expired-30s-ago-within-skew"),
    ],
)
async def test_times_within_bounds_and_skew_are_accepted(
    http: httpx.AsyncClient, key: ClientKey, client: dict[str, Any], shift: int, lifetime: int
) -> None:
    client_key = client["clientKey"]
    made = assertion(client_key, key, ISSUER, now=time.time() + shift, lifetime=lifetime)
    answer = await present(http, made, client_key)
    assert answer.status_code == 200, answer.text


# --- refusals -------------------------------------------------------------------------------


@dataclass
class Scene:
    """Two keyed clients (EC and RSA) of one org, and a third one to confuse them with."""

    http: httpx.AsyncClient
    org: OrgFixture
    ec_key: ClientKey
    ec: dict[str, Any]
    rsa_key: ClientKey
    rsa: dict[str, Any]
    other_key: ClientKey
    other: dict[str, Any]


# A case builds (the assertion, the client it names in client_id / v3 "key" or None, the
# client and key a well-formed assertion then proves still work).
Case = Callable[[Scene], Awaitable[tuple[str, str | None, dict[str, Any], ClientKey]]]


def ec_case(build: Callable[[str, Scene], tuple[str, str | None]]) -> Case:
    async def case(scene: Scene) -> tuple[str, str | None, dict[str, Any], ClientKey]:
        made, named = build(scene.ec["clientKey"], scene)
        return made, named, scene.ec, scene.ec_key

    return case


def rsa_case(build: Callable[[str, Scene], tuple[str, str | None]]) -> Case:
    async def case(scene: Scene) -> tuple[str, str | None, dict[str, Any], ClientKey]:
        made, named = build(scene.rsa["clientKey"], scene)
        return made, named, scene.rsa, scene.rsa_key

    return case


def _ago(seconds: int) -> float:
    return time.time() - seconds


REFUSED: dict[str, Case] = {
    "expired": ec_case(
        lambda k, s: (assertion(k, s.ec_key, ISSUER, now=_ago(600), lifetime=300), k)
    ),
    "exp-10-minutes-ahead": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, lifetime=600), k)),
    "no-exp": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, drop=("exp",)), k)),
    "no-jti": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, drop=("jti",)), k)),
    "wrong-aud": ec_case(lambda k, s: (assertion(k, s.ec_key, "http://elsewhere.test"), k)),
    "iss-not-sub": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, sub=f"x{k}"), k)),
    "sub-not-iss": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, iss=f"x{k}"), k)),
    "iss-another-clients-key": ec_case(
        lambda k, s: (assertion(s.other["clientKey"], s.ec_key, ISSUER), k)
    ),
    "iss-another-clients-key-no-client_id": ec_case(
        lambda k, s: (assertion(s.other["clientKey"], s.ec_key, ISSUER), None)
    ),
    "client_id-names-another-client": ec_case(
        lambda k, s: (assertion(k, s.ec_key, ISSUER), s.other["clientKey"])
    ),
    "alg-none": ec_case(lambda k, s: (alg_none(assertion(k, s.ec_key, ISSUER)), k)),
    "hs256-rsa-public-pem": rsa_case(
        lambda k, s: (hmac_forged(assertion(k, s.rsa_key, ISSUER), s.rsa_key.pem), k)
    ),
    "hs256-rsa-public-jwk": rsa_case(
        lambda k, s: (
            hmac_forged(assertion(k, s.rsa_key, ISSUER), json.dumps(s.rsa_key.jwk).encode()),
            k,
        )
    ),
    "hs256-ec-public-pem": ec_case(
        lambda k, s: (hmac_forged(assertion(k, s.ec_key, ISSUER), s.ec_key.pem), k)
    ),
    "rsa-key-es256-header": rsa_case(
        lambda k, s: (relabelled(assertion(k, s.rsa_key, ISSUER), "ES256"), k)
    ),
    "ec-key-rs256-header": ec_case(
        lambda k, s: (relabelled(assertion(k, s.ec_key, ISSUER), "RS256"), k)
    ),
    "unknown-kid": ec_case(lambda k, s: (assertion(k, s.ec_key, ISSUER, kid="no-such-kid"), k)),
    "unregistered-key-with-the-registered-kid": ec_case(
        lambda k, s: (assertion(k, ClientKey.make("P-256"), ISSUER, kid=s.ec_key.kid), k)
    ),
    "unregistered-key-own-kid": ec_case(
        lambda k, s: (assertion(k, ClientKey.make("P-256"), ISSUER), k)
    ),
    "another-clients-key": ec_case(lambda k, s: (assertion(k, s.other_key, ISSUER), k)),
    "not-a-jwt": ec_case(lambda k, s: ("not-a-jwt", k)),
}

# Cases only /oauth2/token can express: the v3 call always names the client.
OAUTH_ONLY = {"iss-another-clients-key-no-client_id"}


@pytest.fixture
async def scene(http: httpx.AsyncClient, org: OrgFixture) -> Scene:
    ec_key, rsa_key, other_key = (
        ClientKey.make("P-256"),
        ClientKey.make("RSA"),
        ClientKey.make("P-256"),
    )
    return Scene(
        http,
        org,
        ec_key,
        await keyed_client(http, org, ec_key, name="ec"),
        rsa_key,
        await keyed_client(http, org, rsa_key, name="rsa"),
        other_key,
        await keyed_client(http, org, other_key, name="other"),
    )


async def assert_never_used(
    http: httpx.AsyncClient, runtime: Runtime, org: OrgFixture, key: str
) -> None:
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedOn"] is None
    assert shown["lastUsedCredential"] is None
    assert all(summary["lastUsedOn"] is None for summary in shown["keys"])


async def assert_used(http: httpx.AsyncClient, runtime: Runtime, org: OrgFixture, key: str) -> None:
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedOn"] is not None
    assert shown["lastUsedCredential"]["type"] == "key"


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_alike_and_nothing_minted(
    scene: Scene, refusals: Refusals, runtime: Runtime, case: str
) -> None:
    """At /oauth2/token and at the v3 call (each with an assertion of its own), then a
    well-formed assertion of the same client mints: the defect was the reason."""
    http, org = scene.http, scene.org
    made, named, victim, victim_key = await REFUSED[case](scene)
    refusals.assert_oauth(await present(http, made, named))
    if case not in OAUTH_ONLY:
        made, named, _, _ = await REFUSED[case](scene)
        refusals.assert_v3(await present_v3(http, named or victim["clientKey"], made))
    for touched in (scene.ec, scene.rsa, scene.other):
        await assert_never_used(http, runtime, org, touched["clientKey"])
    await minted(http, victim["clientKey"], victim_key)
    await minted(http, victim["clientKey"], victim_key, endpoint="v3")
    await assert_used(http, runtime, org, victim["clientKey"])


async def test_a_replayed_assertion_is_refused(
    http: httpx.AsyncClient, key: ClientKey, client: dict[str, Any], refusals: Refusals
) -> None:
    client_key = client["clientKey"]
    once = assertion(client_key, key, ISSUER)
    first = await present(http, once, client_key)
    assert first.status_code == 200, first.text
    refusals.assert_oauth(await present(http, once, client_key))
    refusals.assert_v3(await present_v3(http, client_key, once))
    # Across endpoints too: used at the v3 call, then at /oauth2/token.
    other = assertion(client_key, key, ISSUER)
    assert (await present_v3(http, client_key, other)).status_code == 200
    refusals.assert_oauth(await present(http, other, client_key))
    refusals.assert_v3(await present_v3(http, client_key, other))


async def test_wrong_assertion_type_is_refused(
    http: httpx.AsyncClient, key: ClientKey, client: dict[str, Any], refusals: Refusals
) -> None:
    client_key = client["clientKey"]
    made = assertion(client_key, key, ISSUER)
    saml = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
    refusals.assert_oauth(await present(http, made, client_key, assertion_type=saml))
    # The same assertion, unused, is then accepted with the right type.
    assert (await present(http, made, client_key)).status_code == 200


async def test_a_deleted_client_is_refused(
    http: httpx.AsyncClient,
    org: OrgFixture,
    key: ClientKey,
    client: dict[str, Any],
    refusals: Refusals,
) -> None:
    client_key = client["clientKey"]
    await minted(http, client_key, key)
    deleted = await http.delete(f"{CLIENTS}/{client_key}", headers=org.auth)
    assert deleted.status_code == 200, deleted.text
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER), client_key))
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER)))
    refusals.assert_v3(await present_v3(http, client_key, assertion(client_key, key, ISSUER)))


async def test_a_secret_client_presenting_an_assertion_is_refused(
    http: httpx.AsyncClient,
    org: OrgFixture,
    key: ClientKey,
    client: dict[str, Any],
    refusals: Refusals,
) -> None:
    client_key = client["clientKey"]
    switched = await http.put(
        f"{CLIENTS}/{client_key}",
        json=update_body(client, tokenEndpointAuthMethod="client_secret_basic", jwks=jwks(key)),
        headers=org.auth,
    )
    assert switched.status_code == 200, switched.text
    secret = switched.json()["data"]["clientSecret"]
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER), client_key))
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER)))
    refusals.assert_v3(await present_v3(http, client_key, assertion(client_key, key, ISSUER)))
    # Its secret is what works now.
    answer = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(client_key, secret),
    )
    assert answer.status_code == 200, answer.text


async def test_a_keyed_client_presenting_a_secret_is_refused(
    http: httpx.AsyncClient, org: OrgFixture, refusals: Refusals
) -> None:
    created = await create_client(http, org, name="was-secret")
    client_key, secret = created["clientKey"], created["clientSecret"]
    signer = ClientKey.make("P-256")
    switched = await http.put(
        f"{CLIENTS}/{client_key}",
        json=update_body(created, tokenEndpointAuthMethod=PKJWT, jwks=jwks(signer)),
        headers=org.auth,
    )
    assert switched.status_code == 200, switched.text
    assert "clientSecret" not in switched.json()["data"]
    for tried in (secret, "s" * 40):
        refusals.assert_oauth(
            await http.post(
                "/oauth2/token",
                data={"grant_type": "client_credentials"},
                headers=client_basic(client_key, tried),
            )
        )
        refusals.assert_oauth(
            await http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_key,
                    "client_secret": tried,
                },
            )
        )
        refusals.assert_v3(
            await http.post("/v3/oauth/token/generate", json={"key": client_key, "secret": tried})
        )
    await minted(http, client_key, signer)


async def test_basic_and_an_assertion_together_are_invalid_request(
    http: httpx.AsyncClient, org: OrgFixture, key: ClientKey, client: dict[str, Any]
) -> None:
    secret_client = await create_client(http, org, name="secret")
    client_key = client["clientKey"]
    for basic_of in (secret_client, {"clientKey": client_key, "clientSecret": "s" * 40}):
        answer = await present(
            http,
            assertion(client_key, key, ISSUER),
            client_key,
            headers=client_basic(basic_of["clientKey"], basic_of["clientSecret"]),
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "invalid_request"
        assert "access_token" not in answer.text


# --- the JWK Set, validated -----------------------------------------------------------------


def _private_first(keys: list[ClientKey]) -> dict[str, Any]:
    return {"keys": [private_jwk(keys[0].private, kid=keys[0].kid)]}


def _private_second(keys: list[ClientKey]) -> dict[str, Any]:
    return {"keys": [keys[0].jwk, private_jwk(keys[1].private, kid=keys[1].kid)]}


def _rsa_1024(keys: list[ClientKey]) -> dict[str, Any]:
    return jwks(ClientKey.make("RSA", bits=1024))


def _eleven(keys: list[ClientKey]) -> dict[str, Any]:
    return jwks(*(ClientKey.make("P-256") for _ in range(11)))


def _oct(keys: list[ClientKey]) -> dict[str, Any]:
    return {"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNoYXJlZC1rZXktbWF0ZXJpYWw"}]}


BAD_JWKS: list[Any] = [
    pytest.param(_private_first, "jwks.keys[0].d", id="private-d"),
    pytest.param(_private_second, "jwks.keys[1].d", id="private-d-second-key"),
    pytest.param(_rsa_1024, "jwks.keys[0]", id="rsa-1024"),
    pytest.param(_eleven, "jwks", id="eleven-keys"),
    pytest.param(_oct, "jwks.keys[0]", id="oct"),
]


def assert_refused_field(response: httpx.Response, field: str) -> None:
    """400 in the v3 envelope whose one error names ``field`` (or, for a prefix ending the
    path, a member under it)."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert isinstance(error["code"], int)
    assert error["message"]
    if field.endswith(".d"):
        assert error["field"] == field, error
    else:
        assert error["field"] == field or error["field"].startswith(field), error


async def org_state(http: httpx.AsyncClient, org: OrgFixture) -> Any:
    listed = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


async def client_state(http: httpx.AsyncClient, org: OrgFixture, key: str) -> Any:
    detail = await http.get(f"{CLIENTS}/{key}", headers=org.auth)
    assert detail.status_code == 200, detail.text
    return detail.json()["data"], detail.headers["ETag"]


@pytest.mark.parametrize(("bad", "field"), BAD_JWKS)
async def test_bad_jwks_is_400_and_changes_nothing(
    http: httpx.AsyncClient,
    org: OrgFixture,
    client: dict[str, Any],
    bad: Callable[[list[ClientKey]], dict[str, Any]],
    field: str,
) -> None:
    """On create (nothing stored) and on update (the client as it was, ETag included)."""
    keys = [ClientKey.make("P-256"), ClientKey.make("P-256")]
    document = bad(keys)
    listed = await org_state(http, org)
    before = await client_state(http, org, client["clientKey"])
    created = await http.post(
        CLIENTS,
        json={
            "name": "refused",
            "description": "",
            "expirationTokenTime": 600,
            "defaultTillId": org.tills[0].id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
            "tokenEndpointAuthMethod": PKJWT,
            "jwks": document,
        },
        headers=org.auth,
    )
    updated = await http.put(
        f"{CLIENTS}/{client['clientKey']}",
        json=update_body(
            client, description="changed", tokenEndpointAuthMethod=PKJWT, jwks=document
        ),
        headers=org.auth,
    )
    for answer in (created, updated):
        assert_refused_field(answer, field)
        for entry in document["keys"]:
            for member in ("d", "p", "q", "k"):
                if member in entry:
                    assert entry[member] not in answer.text
    assert await org_state(http, org) == listed
    assert await client_state(http, org, client["clientKey"]) == before


async def test_a_good_jwks_replaces_the_keys(
    http: httpx.AsyncClient,
    org: OrgFixture,
    key: ClientKey,
    client: dict[str, Any],
    refusals: Refusals,
) -> None:
    """The control of the update tests above: a valid PUT changes the keys for real."""
    client_key = client["clientKey"]
    replacement = ClientKey.make("Ed25519")
    answer = await http.put(
        f"{CLIENTS}/{client_key}",
        json=update_body(client, tokenEndpointAuthMethod=PKJWT, jwks=jwks(replacement)),
        headers=org.auth,
    )
    assert answer.status_code == 200, answer.text
    shown = await read_client(http, org.auth, client_key)
    assert [summary["thumbprint"] for summary in shown["keys"]] == [replacement.thumbprint]
    await minted(http, client_key, replacement)
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER), client_key))


async def test_every_allowed_key_type_is_accepted(http: httpx.AsyncClient, org: OrgFixture) -> None:
    keys = [
        ClientKey.make("RSA"),
        ClientKey.make("RSA", bits=3072, fresh=True),
        ClientKey.make("P-256"),
        ClientKey.make("P-384"),
        ClientKey.make("P-521"),
        ClientKey.make("Ed25519"),
    ]
    client = await keyed_client(http, org, *keys, name="every-type")
    shown = await read_client(http, org.auth, client["clientKey"])
    assert [(k["kty"], k["crv"], k["thumbprint"]) for k in shown["keys"]] == [
        (key.jwk["kty"], key.jwk.get("crv"), key.thumbprint) for key in keys
    ]
    assert shown["jwks"] == jwks(*keys)


async def test_ten_keys_are_allowed(http: httpx.AsyncClient, org: OrgFixture) -> None:
    keys = [ClientKey.make("P-256") for _ in range(10)]
    client = await keyed_client(http, org, *keys, name="ten")
    await minted(http, client["clientKey"], keys[-1])


# --- secrets and switching methods ----------------------------------------------------------


async def test_secret_rotation_of_a_keyed_client_is_400(
    http: httpx.AsyncClient, org: OrgFixture, client: dict[str, Any]
) -> None:
    client_key = client["clientKey"]
    before = await client_state(http, org, client_key)
    answer = await http.post(
        f"{CLIENTS}/{client_key}/secret", json={"graceSeconds": 60}, headers=org.auth
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert isinstance(error["code"], int)
    assert error["message"]
    assert "clientSecret" not in answer.text
    assert await client_state(http, org, client_key) == before


async def test_switching_methods_both_ways_is_audited(
    http: httpx.AsyncClient,
    org: OrgFixture,
    key: ClientKey,
    client: dict[str, Any],
    refusals: Refusals,
) -> None:
    client_key = client["clientKey"]
    await minted(http, client_key, key)

    to_secret = await http.put(
        f"{CLIENTS}/{client_key}",
        json=update_body(client, tokenEndpointAuthMethod="client_secret_basic"),
        headers=org.auth,
    )
    assert to_secret.status_code == 200, to_secret.text
    assert to_secret.json()["data"]["tokenEndpointAuthMethod"] == "client_secret_basic"
    secret = to_secret.json()["data"]["clientSecret"]
    assert isinstance(secret, str)
    assert len(secret) >= 20
    by_secret = await http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=client_basic(client_key, secret),
    )
    assert by_secret.status_code == 200, by_secret.text
    v3 = await http.post("/v3/oauth/token/generate", json={"key": client_key, "secret": secret})
    assert v3.status_code == 200, v3.text
    refusals.assert_oauth(await present(http, assertion(client_key, key, ISSUER), client_key))

    to_key = await http.put(
        f"{CLIENTS}/{client_key}",
        json=update_body(client, tokenEndpointAuthMethod=PKJWT, jwks=jwks(key)),
        headers=org.auth,
    )
    assert to_key.status_code == 200, to_key.text
    assert to_key.json()["data"]["tokenEndpointAuthMethod"] == PKJWT
    assert "clientSecret" not in to_key.json()["data"]
    refusals.assert_oauth(
        await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=client_basic(client_key, secret),
        )
    )
    refusals.assert_v3(
        await http.post("/v3/oauth/token/generate", json={"key": client_key, "secret": secret})
    )
    await minted(http, client_key, key)

    answer = await http.get(AUDIT, params={"clientKey": client_key}, headers=org.auth)
    assert answer.status_code == 200, answer.text
    events = answer.json()["data"]["events"]
    assert [event["action"] for event in events] == [
        "client.update",
        "client.update",
        "client.create",
    ]
    back, away, _create = events
    assert away["changes"]["tokenEndpointAuthMethod"] == [PKJWT, "client_secret_basic"]
    assert back["changes"]["tokenEndpointAuthMethod"] == ["client_secret_basic", PKJWT]
    text = json.dumps(events)
    assert secret not in text
    assert key.thumbprint in text
    for member in ("x", "y"):
        assert key.jwk[member] not in text


async def test_rfc8414_metadata_lists_private_key_jwt(http: httpx.AsyncClient) -> None:
    answer = await http.get("/.well-known/oauth-authorization-server")
    assert answer.status_code == 200, answer.text
    meta = answer.json()
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    signing = meta["token_endpoint_auth_signing_alg_values_supported"]
    assert set(ALGORITHMS) <= set(signing)
    assert len(signing) == len(set(signing))
    assert not [alg for alg in signing if alg == "none" or alg.startswith("HS")]


async def test_metadata_signing_algorithms_are_exactly_the_accepted_ones(
    http: httpx.AsyncClient,
) -> None:
    """The five, and RFC 9864's fully specified name of EdDSA over Ed25519."""
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert sorted(meta["token_endpoint_auth_signing_alg_values_supported"]) == sorted(
        [*ALGORITHMS, "Ed25519"]
    )


async def test_an_ed25519_key_signs_under_either_name_of_its_algorithm(
    http: httpx.AsyncClient, org: OrgFixture, refusals: Refusals
) -> None:
    """``EdDSA`` and RFC 9864's ``Ed25519`` name the same algorithm for an Ed25519 key (as
    openid-client signs); neither name lets another family's key verify."""
    signer = ClientKey.make("Ed25519")
    client = await keyed_client(http, org, signer, name="ed25519")
    key = client["clientKey"]
    await minted(http, key, signer)
    renamed = ed25519_named(assertion(key, signer, ISSUER), signer, "Ed25519")
    answer = await present(http, renamed, key)
    assert answer.status_code == 200, answer.text
    replayed = await present(http, renamed, key)
    refusals.assert_oauth(replayed)


@pytest.mark.parametrize(
    "path", ["/oauth2/introspect", "/oauth2/revoke", "/v3/oauth/token/generate"]
)
async def test_the_url_of_any_endpoint_taking_client_authentication_is_an_audience(
    http: httpx.AsyncClient,
    key: ClientKey,
    client: dict[str, Any],
    path: str,
) -> None:
    """Libraries address an assertion to the endpoint they call (requests-oauth2client)."""
    client_key = client["clientKey"]
    answer = await present(http, assertion(client_key, key, ISSUER + path), client_key)
    assert answer.status_code == 200, answer.text
