"""Who calls the management API: Basic logins and access tokens, on an in-memory node."""

from __future__ import annotations

import pytest

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import AccessDenied, InvalidToken, TooManyAttempts, Unauthenticated
from keyloft.domain.passwords import hash_password
from keyloft.services.callers import BasicLogin, CallerAuthentication, TokenCall
from keyloft.services.client_auth import ClientAuthRequest
from keyloft.services.token_inspection import TokenInspector
from keyloft.services.token_issuance import V3, TokenIssuance, TokenRequest
from tests.unit.fake_node import SECRET, World, signing_key, world

PASSWORD = "correct horse"


@pytest.fixture
async def acme() -> World:
    found = await world(signing_key())
    store = found.node.store
    await store.principals.add(
        org_id=found.org.id,
        kind=PrincipalKind.ADMIN_USER,
        code="ada",
        name="Ada",
        password_hash=hash_password(PASSWORD),
        now=found.node.clock.now(),
    )
    return found


def callers(acme: World) -> CallerAuthentication:
    return CallerAuthentication(acme.node, TokenInspector(acme.node))


async def token(acme: World) -> str:
    asked = TokenRequest(ClientAuthRequest({"key": "key-1", "secret": SECRET}))
    return (await TokenIssuance(acme.node).issue(asked, V3)).access_token


async def test_a_basic_login_is_its_principal_with_full_rights(acme: World) -> None:
    actor = await callers(acme).authenticate(BasicLogin("ada", PASSWORD, "192.0.2.9"))
    assert (actor.principal.code, actor.org_id, actor.grants) == ("ada", acme.org.id, None)


async def test_the_md5_form_of_the_password_is_accepted(acme: World) -> None:
    import hashlib

    md5 = hashlib.md5(PASSWORD.encode(), usedforsecurity=False).hexdigest()
    assert (await callers(acme).basic(BasicLogin("ada", md5))).principal.code == "ada"


async def test_a_wrong_password_and_an_unknown_login_look_alike(acme: World) -> None:
    with pytest.raises(Unauthenticated) as wrong:
        await callers(acme).basic(BasicLogin("ada", "nope"))
    with pytest.raises(Unauthenticated) as unknown:
        await callers(acme).basic(BasicLogin("nobody", "nope"))
    assert str(wrong.value) == str(unknown.value) == "Invalid username or password."


async def test_repeated_failures_block_the_login(acme: World) -> None:
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await callers(acme).basic(BasicLogin("ada", "nope", "192.0.2.9"))
    with pytest.raises(TooManyAttempts):
        await callers(acme).basic(BasicLogin("ada", PASSWORD, "192.0.2.9"))


async def test_a_token_acts_as_its_default_till_within_its_grants(acme: World) -> None:
    call = TokenCall(await token(acme), "GET", "/v3/targetGroups/1")
    actor = await callers(acme).authenticate(call)
    assert actor.principal.id == acme.till.id
    assert actor.client_id == acme.client.id
    assert actor.grants is not None
    assert {grant.entity_id for grant in actor.grants} == {1, 3}


async def test_a_token_may_not_go_beyond_its_grants_or_name_a_foreign_till(acme: World) -> None:
    issued = await token(acme)
    with pytest.raises(AccessDenied):
        await callers(acme).token(TokenCall(issued, "DELETE", "/v3/transactions/1"))
    with pytest.raises(AccessDenied):
        await callers(acme).token(TokenCall(issued, "GET", "/v3/targetGroups/1", "STORE", "till.2"))
    with pytest.raises(InvalidToken):
        await callers(acme).token(TokenCall(issued + "x", "GET", "/v3/targetGroups/1"))
    other = await callers(acme).token(
        TokenCall(issued, "GET", "/v3/targetGroups/1", "TILL", "till.2")
    )
    assert other.principal.id == acme.other_till.id


async def test_a_session_follows_its_password(acme: World) -> None:
    def seal(password_hash: str) -> str:
        return "print-" + password_hash[-8:]

    opened = await callers(acme).principal_for_session("ada", seal, expected=None)
    assert opened is not None
    principal, current = opened
    assert principal.code == "ada"
    assert await callers(acme).principal_for_session("ada", seal, expected=current) == opened
    assert await callers(acme).principal_for_session("ada", seal, expected="print-old") is None
    assert await callers(acme).principal_for_session("gone", seal, expected=None) is None
