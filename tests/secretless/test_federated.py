"""Federated credentials: a client trusts tokens another issuer gives its workloads (GitHub
Actions, a Kubernetes service account, a SPIFFE JWT-SVID) as its assertion, by rules naming
the issuer, subject, audiences, claims and a maximum age.

Covers: tokens of each shape accepted for matching rules, at /oauth2/token and the v3 call; each
mismatch refused exactly as a wrong secret is (issuer, subject, audience, a claim, expired,
issued in the future beyond the skew, older than ``maxAgeSeconds``, a key the issuer does not
publish, ``alg: none``); reuse of one token allowed; ``client_id`` required; the issuer's key
rotation followed; an issuer with RFC 8414 metadata only; without ``federation_allow_http``, an
http issuer and a ``jwks_uri`` on a loopback address refused with no request made; rules only
authenticating a private_key_jwt client; which rule minted last (``lastUsedCredential``, each
rule's ``lastUsedOn``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.services.key_sets import RemoteKeySets
from keyloft.services.ports import RemoteDocument, RemoteJson
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, ISSUER, OrgFixture, create_client
from tests.support.fake_idp import (
    CLIENTS,
    JWKS_PATH,
    OAUTH_METADATA,
    OIDC_DISCOVERY,
    FakeIdP,
    Refusals,
    alg_none,
    keyloft_claims,
    present,
    present_v3,
    read_client,
    running_idp,
)
from tests.unit.fakes import FakeClock

PKJWT = "private_key_jwt"
GHA_SUBJECT = "repo:acme/payments:ref:refs/heads/main"
K8S_SUBJECT = "system:serviceaccount:payments:api"
SPIFFE_SUBJECT = "spiffe://acme.test/ns/payments/sa/api"
K8S_AUDIENCE = "https://keyloft.acme.test/k8s"


def gha_rule(idp: FakeIdP, **changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "gha-main",
        "issuer": idp.issuer,
        "subject": GHA_SUBJECT,
        "audiences": [ISSUER],
        "claims": {"repository": "acme/payments", "ref": "refs/heads/main"},
        "maxAgeSeconds": 600,
    }
    return rule | changes


def k8s_rule(idp: FakeIdP, **changes: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "k8s-api",
        "issuer": idp.issuer,
        "subject": K8S_SUBJECT,
        "audiences": [K8S_AUDIENCE],
        "claims": {},
    }
    return rule | changes


def spiffe_rule(idp: FakeIdP, **changes: Any) -> dict[str, Any]:
    return {"name": "spiffe-api", "issuer": idp.issuer, "subject": SPIFFE_SUBJECT} | changes


async def federated_client(
    http: httpx.AsyncClient, org: OrgFixture, *rules: dict[str, Any], name: str = "federated"
) -> dict[str, Any]:
    return await create_client(
        http,
        org,
        name=name,
        tokenEndpointAuthMethod=PKJWT,
        federatedCredentials=list(rules),
    )


async def accepted(http: httpx.AsyncClient, client: dict[str, Any], token: str) -> str:
    key = client["clientKey"]
    answer = await present(http, token, key)
    assert answer.status_code == 200, answer.text
    access: str = answer.json()["access_token"]
    claims = await keyloft_claims(http, access)
    assert claims["client_id"] == claims["sub"] == key
    return access


async def rules_shown(http: httpx.AsyncClient, org: OrgFixture, key: str) -> dict[str, Any]:
    shown = await read_client(http, org.auth, key)
    return {rule["name"]: rule for rule in shown["federatedCredentials"]}


# --- accepted -------------------------------------------------------------------------------

SHAPES: list[Any] = [
    pytest.param(gha_rule, lambda idp: idp.github_actions(ISSUER), id="github-actions"),
    pytest.param(k8s_rule, lambda idp: idp.kubernetes(K8S_AUDIENCE), id="kubernetes"),
    pytest.param(spiffe_rule, lambda idp: idp.spiffe(ISSUER), id="spiffe"),
]


@pytest.mark.parametrize(("rule_of", "token_of"), SHAPES)
async def test_tokens_of_each_shape_mint_at_both_endpoints(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    runtime: Runtime,
    rule_of: Callable[[FakeIdP], dict[str, Any]],
    token_of: Callable[[FakeIdP], str],
) -> None:
    rule = rule_of(idp)
    client = await federated_client(http, org, rule)
    assert "clientSecret" not in client
    await accepted(http, client, token_of(idp))
    v3 = await present_v3(http, client["clientKey"], token_of(idp))
    assert v3.status_code == 200, v3.text
    v3_claims = await keyloft_claims(http, v3.json()["data"]["accessToken"])
    assert v3_claims["sub"] == v3_claims["client_key"] == client["clientKey"]

    await runtime.flush_usage()
    shown = await read_client(http, org.auth, client["clientKey"])
    [rule_shown] = shown["federatedCredentials"]
    assert {name: rule_shown[name] for name in rule} == rule
    assert rule_shown["lastUsedOn"] is not None
    assert shown["lastUsedCredential"]["type"] == "federated"
    assert shown["lastUsedCredential"]["id"] == rule["name"]


async def test_a_token_may_be_used_again_until_it_expires(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP
) -> None:
    client = await federated_client(http, org, gha_rule(idp))
    token = idp.github_actions(ISSUER)
    for _ in range(3):
        await accepted(http, client, token)
        v3 = await present_v3(http, client["clientKey"], token)
        assert v3.status_code == 200, v3.text


async def test_default_audience_is_keyloft(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, refusals: Refusals
) -> None:
    rule = {"name": "defaults", "issuer": idp.issuer, "subject": GHA_SUBJECT}
    client = await federated_client(http, org, rule)
    await accepted(http, client, idp.github_actions(ISSUER))
    await accepted(http, client, idp.github_actions([ISSUER, "https://other.test"]))
    refusals.assert_oauth(
        await present(http, idp.github_actions("https://github.com/acme"), client["clientKey"])
    )


async def test_issued_within_the_skew_ahead_is_accepted(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP
) -> None:
    client = await federated_client(http, org, gha_rule(idp))
    await accepted(http, client, idp.github_actions(ISSUER, now=time.time() + 30))


async def test_at_most_20_rules(http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP) -> None:
    rules = [gha_rule(idp, name=f"rule-{n}") for n in range(21)]
    listed = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    refused = await http.post(
        CLIENTS,
        json={
            "name": "too-many-rules",
            "description": "",
            "expirationTokenTime": 600,
            "defaultTillId": org.tills[0].id,
            "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
            "tokenEndpointAuthMethod": PKJWT,
            "federatedCredentials": rules,
        },
        headers=org.auth,
    )
    assert refused.status_code == 400, refused.text
    [error] = refused.json()["errors"]
    assert error["field"].startswith("federatedCredentials"), error
    again = await http.get(CLIENTS, params={"includeInvalid": "true"}, headers=org.auth)
    assert again.json() == listed.json()
    client = await federated_client(http, org, *rules[:20], name="twenty-rules")
    await accepted(http, client, idp.github_actions(ISSUER))


# --- refused --------------------------------------------------------------------------------


def _ago(seconds: float) -> float:
    return time.time() - seconds


def _claims_of(token: str) -> dict[str, Any]:
    found: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found


def altered(idp: FakeIdP, **changes: Any) -> str:
    """A GitHub Actions token matching ``gha_rule`` but for ``changes``, signed by ``idp``."""
    return idp.sign(_claims_of(idp.github_actions(ISSUER)) | changes)


MISMATCHES: dict[str, Callable[[FakeIdP, FakeIdP], str]] = {
    "issuer-another-idp": lambda idp, other: other.github_actions(ISSUER),
    "issuer-claimed-signed-by-another-idp": lambda idp, other: other.github_actions(
        ISSUER, iss=idp.issuer
    ),
    "subject": lambda idp, other: altered(idp, sub="repo:acme/payments:ref:refs/heads/dev"),
    "subject-pull-request": lambda idp, other: altered(idp, sub="repo:acme/payments:pull_request"),
    "audience": lambda idp, other: idp.github_actions("https://github.com/acme"),
    "audience-missing": lambda idp, other: idp.github_actions(ISSUER, drop=("aud",)),
    "claim-repository": lambda idp, other: altered(idp, repository="acme/payments-fork"),
    "claim-ref": lambda idp, other: altered(idp, ref="refs/heads/dev"),
    "claim-missing": lambda idp, other: idp.github_actions(ISSUER, drop=("ref",)),
    "claim-of-another-type": lambda idp, other: altered(idp, repository=["acme/payments"]),
    "expired": lambda idp, other: idp.github_actions(ISSUER, now=_ago(400), lifetime=300),
    "no-exp": lambda idp, other: idp.github_actions(ISSUER, drop=("exp",)),
    "issued-in-the-future": lambda idp, other: idp.github_actions(
        ISSUER, now=time.time() + 300, lifetime=600, nbf=int(time.time())
    ),
    "older-than-max-age": lambda idp, other: idp.github_actions(
        ISSUER, now=_ago(900), lifetime=3600
    ),
    "alg-none": lambda idp, other: alg_none(idp.github_actions(ISSUER)),
    "unpublished-key-with-the-published-kid": lambda idp, other: other.sign(
        _claims_of(idp.github_actions(ISSUER)), headers={"kid": idp.key.kid}
    ),
}


@pytest.fixture
def other_idp() -> Iterator[FakeIdP]:
    with running_idp() as provider:
        yield provider


@pytest.mark.parametrize("case", list(MISMATCHES))
async def test_each_mismatch_is_refused_alike(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    other_idp: FakeIdP,
    refusals: Refusals,
    runtime: Runtime,
    case: str,
) -> None:
    """At /oauth2/token and at the v3 call, then a token matching the rule mints for the
    same client: the mismatch was the reason."""
    client = await federated_client(http, org, gha_rule(idp))
    key = client["clientKey"]
    refusals.assert_oauth(await present(http, MISMATCHES[case](idp, other_idp), key))
    refusals.assert_v3(await present_v3(http, key, MISMATCHES[case](idp, other_idp)))
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedCredential"] is None
    assert shown["federatedCredentials"][0]["lastUsedOn"] is None
    await accepted(http, client, idp.github_actions(ISSUER))


async def test_client_id_is_required(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, refusals: Refusals
) -> None:
    client = await federated_client(http, org, gha_rule(idp))
    token = idp.github_actions(ISSUER)
    refusals.assert_oauth(await present(http, token))
    refusals.assert_oauth(await present(http, token, ""))
    await accepted(http, client, token)


async def test_another_clients_rule_does_not_vouch(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, refusals: Refusals
) -> None:
    trusting = await federated_client(http, org, gha_rule(idp), name="trusting")
    other = await federated_client(http, org, k8s_rule(idp), name="other")
    token = idp.github_actions(ISSUER)
    refusals.assert_oauth(await present(http, token, other["clientKey"]))
    refusals.assert_v3(await present_v3(http, other["clientKey"], token))
    await accepted(http, trusting, token)


async def test_rules_authenticate_only_a_private_key_jwt_client(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, refusals: Refusals
) -> None:
    rule = gha_rule(idp)
    client = await federated_client(http, org, rule)
    key = client["clientKey"]
    await accepted(http, client, idp.github_actions(ISSUER))
    body = {
        name: client[name]
        for name in ("name", "description", "expirationTokenTime", "defaultTillId", "scopes")
    }
    switched = await http.put(
        f"{CLIENTS}/{key}",
        json=body
        | {"tokenEndpointAuthMethod": "client_secret_basic", "federatedCredentials": [rule]},
        headers=org.auth,
    )
    assert switched.status_code == 200, switched.text
    assert isinstance(switched.json()["data"]["clientSecret"], str)
    refusals.assert_oauth(await present(http, idp.github_actions(ISSUER), key))
    refusals.assert_v3(await present_v3(http, key, idp.github_actions(ISSUER)))


# --- finding the issuer's keys --------------------------------------------------------------


async def test_the_issuers_key_rotation_is_followed(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP
) -> None:
    client = await federated_client(http, org, gha_rule(idp))
    await accepted(http, client, idp.github_actions(ISSUER))
    fetched = idp.hits(JWKS_PATH)
    assert fetched >= 1
    await accepted(http, client, idp.github_actions(ISSUER))
    assert idp.hits(JWKS_PATH) == fetched  # held, not fetched per token
    old_kid = idp.key.kid
    rotated = idp.rotate(keep_old=False)
    assert rotated.kid != old_kid
    await accepted(http, client, idp.github_actions(ISSUER))
    assert idp.hits(JWKS_PATH) == fetched + 1


async def test_an_issuer_with_rfc8414_metadata_only(
    http: httpx.AsyncClient, org: OrgFixture
) -> None:
    with running_idp(metadata="oauth") as idp:
        client = await federated_client(http, org, gha_rule(idp))
        await accepted(http, client, idp.github_actions(ISSUER))
        assert idp.hits(OAUTH_METADATA) >= 1
        assert idp.hits(JWKS_PATH) >= 1


async def test_metadata_naming_another_issuer_is_refused(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, other_idp: FakeIdP, refusals: Refusals
) -> None:
    """The metadata at the issuer's address must name that issuer (OpenID Connect Discovery
    §4.3): here it names another, whose keys sign the token."""
    other_idp.serve(
        OIDC_DISCOVERY,
        {"issuer": idp.issuer, "jwks_uri": other_idp.jwks_url},
    )
    rule = gha_rule(other_idp)
    client = await federated_client(http, org, rule)
    token = other_idp.github_actions(ISSUER)
    refusals.assert_oauth(await present(http, token, client["clientKey"]))
    assert other_idp.hits(JWKS_PATH) == 0


async def test_a_jwks_uri_elsewhere_is_followed_when_allowed(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, other_idp: FakeIdP
) -> None:
    """Discovery may name a jwks_uri on another server (the control of the strict test)."""
    other_idp.publish([idp.key])
    idp.point_jwks_uri(other_idp.jwks_url)
    client = await federated_client(http, org, gha_rule(idp))
    await accepted(http, client, idp.github_actions(ISSUER))
    assert other_idp.hits(JWKS_PATH) >= 1
    assert idp.hits(JWKS_PATH) == 0


# --- without federation_allow_http ----------------------------------------------------------


class PublicIssuer:
    """A stand-in for an https issuer on the public internet: its discovery document comes
    from memory, every other URL goes to the node's own fetcher and its address policy."""

    def __init__(self, inner: RemoteJson, issuer: str, jwks_uri: str) -> None:
        self.inner = inner
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.served = 0

    async def get_json(self, url: str) -> RemoteDocument:
        if url == self.issuer + OIDC_DISCOVERY:
            self.served += 1
            return RemoteDocument(url, {"issuer": self.issuer, "jwks_uri": self.jwks_uri}, 300)
        return await self.inner.get_json(url)


@pytest.fixture
async def strict(
    settings: Settings, database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A second node on the same store, without ``federation_allow_http``."""
    rt = await build_runtime(
        settings.model_copy(update={"federation_allow_http": False}), database=database
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime=rt)), base_url=BASE_URL
    )
    yield client, rt
    await client.aclose()
    await rt.stop()  # the database fixture disposes the engine itself


async def test_without_allow_http_an_http_issuer_is_never_asked(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    strict: tuple[httpx.AsyncClient, Runtime],
    refusals: Refusals,
) -> None:
    node, _ = strict
    client = await federated_client(http, org, gha_rule(idp))
    key = client["clientKey"]
    idp.reset_hits()
    refusals.assert_oauth(await present(node, idp.github_actions(ISSUER), key))
    refusals.assert_v3(await present_v3(node, key, idp.github_actions(ISSUER)))
    assert idp.total_hits() == 0
    assert idp.connections() == 0
    await accepted(http, client, idp.github_actions(ISSUER))  # the permissive node does ask


@pytest.mark.parametrize(
    ("scheme", "allow_http"),
    [
        pytest.param("http", True, id="http-allowed"),
        pytest.param("http", False, id="http-strict"),
        pytest.param("https", False, id="https-strict"),
    ],
)
async def test_a_loopback_jwks_uri_in_public_metadata(
    http: httpx.AsyncClient,
    org: OrgFixture,
    idp: FakeIdP,
    runtime: Runtime,
    strict: tuple[httpx.AsyncClient, Runtime],
    refusals: Refusals,
    scheme: str,
    allow_http: bool,
) -> None:
    """An issuer whose own address is public, but whose discovery names a ``jwks_uri`` on a
    loopback address: refused without the setting before any connection to that address is
    made, even over https (refused for the address, not the scheme)."""
    node, rt = (http, runtime) if allow_http else strict
    public = "https://issuer.acme.test"
    jwks_uri = f"{scheme}://127.0.0.1:{idp.port}{JWKS_PATH}"
    stand_in = PublicIssuer(rt.fetcher, public, jwks_uri)
    rt.key_sets = RemoteKeySets(stand_in, wall=lambda: rt.now().timestamp())
    client = await federated_client(http, org, gha_rule(idp, issuer=public))
    token = idp.github_actions(ISSUER, iss=public)
    idp.reset_hits()
    answer = await present(node, token, client["clientKey"])
    assert stand_in.served >= 1, "the stand-in issuer was not consulted"
    if allow_http:
        assert answer.status_code == 200, answer.text
        assert idp.hits(JWKS_PATH) >= 1
    else:
        refusals.assert_oauth(answer)
        assert idp.total_hits() == 0
        assert idp.connections() == 0


# --- which credential was used --------------------------------------------------------------


async def test_last_used_credential_names_the_rule_that_minted_last(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, runtime: Runtime, clock: FakeClock
) -> None:
    """Both tokens within one minute of the runtime's clock, 20 s apart (the clock is pinned
    so the test never straddles a minute)."""
    clock.moment = clock.moment.replace(second=5, microsecond=0)
    client = await federated_client(http, org, gha_rule(idp), k8s_rule(idp))
    key = client["clientKey"]
    rules = await rules_shown(http, org, key)
    assert rules["gha-main"]["lastUsedOn"] is None
    assert rules["k8s-api"]["lastUsedOn"] is None
    assert (await read_client(http, org.auth, key))["lastUsedCredential"] is None

    await accepted(http, client, idp.github_actions(ISSUER, now=clock.now().timestamp()))
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedCredential"]["type"] == "federated"
    assert shown["lastUsedCredential"]["id"] == "gha-main"
    assert isinstance(shown["lastUsedCredential"]["at"], str)
    rules = {rule["name"]: rule for rule in shown["federatedCredentials"]}
    assert rules["gha-main"]["lastUsedOn"] is not None
    assert rules["k8s-api"]["lastUsedOn"] is None

    clock.advance(20)
    await accepted(http, client, idp.kubernetes(K8S_AUDIENCE, now=clock.now().timestamp()))
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedCredential"]["type"] == "federated"
    assert shown["lastUsedCredential"]["id"] == "k8s-api"
    rules = {rule["name"]: rule for rule in shown["federatedCredentials"]}
    assert rules["gha-main"]["lastUsedOn"] is not None
    assert rules["k8s-api"]["lastUsedOn"] is not None


async def test_last_used_credential_a_minute_apart(
    http: httpx.AsyncClient, org: OrgFixture, idp: FakeIdP, runtime: Runtime, clock: FakeClock
) -> None:
    """The same as above with the runtime's clock a minute on between the two tokens."""
    client = await federated_client(http, org, gha_rule(idp), k8s_rule(idp))
    key = client["clientKey"]
    await accepted(http, client, idp.github_actions(ISSUER, now=clock.now().timestamp()))
    clock.advance(61)
    await accepted(http, client, idp.kubernetes(K8S_AUDIENCE, now=clock.now().timestamp()))
    await runtime.flush_usage()
    shown = await read_client(http, org.auth, key)
    assert shown["lastUsedCredential"]["type"] == "federated"
    assert shown["lastUsedCredential"]["id"] == "k8s-api"
    rules = {rule["name"]: rule for rule in shown["federatedCredentials"]}
    assert rules["k8s-api"]["lastUsedOn"] > rules["gha-main"]["lastUsedOn"]
