"""ClientService over an in-memory store: validation order, limits, names, deletion, widening."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.clients import ScopeInput
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import (
    AccessDenied,
    ClientDeleted,
    ClientLimitReached,
    ClientNotFound,
    KeyloftError,
    NameTaken,
    StateForbids,
    ValidationFailed,
    VersionMismatch,
)
from keyloft.domain.scopes import DEFAULT_ENTITIES, Grant, Permission
from keyloft.services.client_requests import ClientRequest
from keyloft.services.clients import ClientService
from tests.unit.fakes import FakeClock, FakeStore

HASHER = SecretHasher(b"h" * 32)
READ, WRITE, RW = Permission.READ, Permission.WRITE, Permission.READWRITE


@dataclass
class World:
    store: FakeStore
    service: ClientService
    org_id: int
    admin: Actor
    till_id: int
    other_org_till_id: int


@pytest.fixture
async def world() -> World:
    store = FakeStore()
    org = await store.orgs.add(
        name="Acme", timezone="UTC", max_clients=2, max_token_ttl=3600, now=FakeClock().now()
    )
    other = await store.orgs.add(
        name="Globex", timezone="UTC", max_clients=2, max_token_ttl=3600, now=FakeClock().now()
    )
    for org_id in (org.id, other.id):
        for entity in DEFAULT_ENTITIES:
            await store.scopes.add(org_id, entity.name, entity.area_pattern)
    now = FakeClock().now()
    admin = await store.principals.add(
        org_id=org.id,
        kind=PrincipalKind.ADMIN_USER,
        code="admin",
        name="A",
        password_hash="",
        now=now,
    )
    till = await store.principals.add(
        org_id=org.id, kind=PrincipalKind.TILL, code="till", name="T", password_hash="", now=now
    )
    foreign = await store.principals.add(
        org_id=other.id, kind=PrincipalKind.TILL, code="t2", name="T2", password_hash="", now=now
    )
    return World(
        store=store,
        service=ClientService(store, HASHER, FakeClock()),
        org_id=org.id,
        admin=Actor(principal=admin),
        till_id=till.id,
        other_org_till_id=foreign.id,
    )


def _request(world: World, **overrides: object) -> ClientRequest:
    request = ClientRequest(
        name="integration",
        description="described",
        expiration_token_time=600,
        default_till_id=world.till_id,
        scopes=[
            ScopeInput(1, "READWRITE", [r"/v3/targetGroups/\d+"]),
            ScopeInput(2, "READ", []),
        ],
    )
    return replace(request, **overrides)  # type: ignore[arg-type]


def _token_actor(world: World, *grants: Grant) -> Actor:
    return replace(world.admin, grants=grants, client_id=99)


async def _error(world: World, request: ClientRequest, actor: Actor | None = None) -> KeyloftError:
    before = dict(world.store.clients.rows)
    with pytest.raises(KeyloftError) as caught:
        await world.service.create(actor or world.admin, request)
    assert world.store.clients.rows == before, "a refused create stored something"
    return caught.value


async def test_create_returns_client_and_a_secret_stored_only_as_hash(world: World) -> None:
    client, secret = await world.service.create(world.admin, _request(world))
    assert len(secret) == 40
    assert len(client.client_key) == 25
    assert client.grants == (
        Grant(1, RW, (r"/v3/targetGroups/\d+",)),
        Grant(2, READ, ()),
    )
    assert client.created_by.id == world.admin.principal.id
    stored = world.store.clients.rows[client.id][1]
    assert secret not in stored
    assert HASHER.verify(secret, stored)
    assert world.store.orgs.locked == [world.org_id]


ORDER = [
    pytest.param(
        {"name": None, "description": None, "expiration_token_time": 0}, "name", id="name-req"
    ),
    pytest.param(
        {"description": None, "expiration_token_time": 0}, "description", id="description-req"
    ),
    pytest.param(
        {"name": " ", "description": "x" * 501, "expiration_token_time": 0}, "name", id="name"
    ),
    pytest.param(
        {"description": "x" * 501, "expiration_token_time": 0}, "description", id="description"
    ),
    pytest.param(
        {"expiration_token_time": 3601, "scopes": [ScopeInput(9, "READ")]},
        "expirationTokenTime",
        id="ttl-above-org-cap",
    ),
    pytest.param(
        {"scopes": [ScopeInput(9, "READ")], "default_till_id": 12345},
        "scopes[0].entityId",
        id="unknown-entity",
    ),
    pytest.param(
        {"scopes": [ScopeInput(1, "READ"), ScopeInput(1, "WRITE")]},
        "scopes[1].entityId",
        id="repeated-entity",
    ),
    pytest.param(
        {"scopes": [ScopeInput(1, "ALL")], "default_till_id": 12345},
        "scopes[0].permission",
        id="bad-permission",
    ),
    pytest.param(
        {"scopes": [ScopeInput(2, "READ", ["/ok", "(?=x)"])], "default_till_id": 12345},
        "scopes[0].resources[1]",
        id="bad-resource",
    ),
    pytest.param({"default_till_id": 12345}, "defaultTillId", id="unknown-till"),
]


@pytest.mark.parametrize(("overrides", "field"), ORDER)
async def test_validation_order(world: World, overrides: dict[str, object], field: str) -> None:
    error = await _error(world, _request(world, **overrides))
    # A malformed value is ValidationFailed (400); one the org lacks is StateForbids (409).
    assert isinstance(error, ValidationFailed | StateForbids)
    assert error.field == field


async def test_till_of_another_org_or_an_admin_is_not_a_default_till(world: World) -> None:
    for till_id in (world.other_org_till_id, world.admin.principal.id):
        error = await _error(world, _request(world, default_till_id=till_id))
        assert error.field == "defaultTillId"


async def test_validation_comes_before_the_limit(world: World) -> None:
    await world.service.create(world.admin, _request(world, name="one"))
    await world.service.create(world.admin, _request(world, name="two"))
    error = await _error(world, _request(world, name="three", default_till_id=12345))
    assert isinstance(error, StateForbids)


async def test_limit_reached(world: World) -> None:
    await world.service.create(world.admin, _request(world, name="one"))
    await world.service.create(world.admin, _request(world, name="two"))
    error = await _error(world, _request(world, name="one"))
    assert isinstance(error, ClientLimitReached)
    assert "2" in error.message


async def test_deleted_clients_do_not_count_towards_the_limit(world: World) -> None:
    first, _ = await world.service.create(world.admin, _request(world, name="one"))
    await world.service.create(world.admin, _request(world, name="two"))
    await world.service.delete(world.admin, first.client_key, if_match=None)
    third, _ = await world.service.create(world.admin, _request(world, name="three"))
    assert third.is_valid


async def test_name_taken(world: World) -> None:
    await world.service.create(world.admin, _request(world))
    error = await _error(world, _request(world))
    assert isinstance(error, NameTaken)
    assert error.field == "name"


async def test_name_of_a_deleted_client_is_free_again(world: World) -> None:
    first, _ = await world.service.create(world.admin, _request(world))
    await world.service.delete(world.admin, first.client_key, if_match=None)
    second, _ = await world.service.create(world.admin, _request(world))
    assert second.name == first.name
    assert second.client_key != first.client_key


async def test_update_to_a_taken_name(world: World) -> None:
    await world.service.create(world.admin, _request(world, name="one"))
    two, _ = await world.service.create(world.admin, _request(world, name="two"))
    with pytest.raises(NameTaken):
        await world.service.update(
            world.admin, two.client_key, _request(world, name="one"), if_match=None
        )
    kept, _ = await world.service.update(
        world.admin, two.client_key, _request(world, name="two"), if_match=None
    )
    assert (kept.name, kept.version) == ("two", 2)


async def test_update_keeps_name_and_description_when_omitted(world: World) -> None:
    client, _ = await world.service.create(world.admin, _request(world))
    updated, _ = await world.service.update(
        world.admin,
        client.client_key,
        _request(world, name=None, description=None, expiration_token_time=60),
        if_match=None,
    )
    assert (updated.name, updated.description) == ("integration", "described")
    assert updated.expiration_token_time == 60


async def test_deleted_client_cannot_be_updated_or_deleted(world: World) -> None:
    client, _ = await world.service.create(world.admin, _request(world))
    deleted = await world.service.delete(world.admin, client.client_key, if_match=None)
    assert deleted.is_valid is False
    with pytest.raises(ClientDeleted):
        await world.service.update(world.admin, client.client_key, _request(world), if_match=None)
    with pytest.raises(ClientDeleted):
        await world.service.delete(world.admin, client.client_key, if_match=None)


async def test_unknown_or_foreign_client_is_not_found(world: World) -> None:
    client, _ = await world.service.create(world.admin, _request(world))
    outsider = Actor(
        principal=Principal(world.other_org_till_id, 2, PrincipalKind.TILL, "t2", "T2")
    )
    with pytest.raises(ClientNotFound):
        await world.service.get(outsider, client.client_key)
    with pytest.raises(ClientNotFound):
        await world.service.delete(outsider, client.client_key, if_match=None)
    with pytest.raises(ClientNotFound):
        await world.service.get(world.admin, "no-such-key")


async def test_if_match(world: World) -> None:
    client, _ = await world.service.create(world.admin, _request(world))
    with pytest.raises(VersionMismatch):
        await world.service.update(
            world.admin, client.client_key, _request(world), if_match='"1-7"'
        )
    updated, _ = await world.service.update(
        world.admin, client.client_key, _request(world), if_match=f'"{client.id}-1"'
    )
    assert updated.version == 2
    with pytest.raises(VersionMismatch):
        await world.service.delete(world.admin, client.client_key, if_match=f'"{client.id}-1"')


WIDENING = [
    pytest.param((Grant(2, READ),), [ScopeInput(2, "READWRITE")], id="more-permission"),
    pytest.param((Grant(2, RW),), [ScopeInput(1, "READ")], id="other-entity"),
    pytest.param((Grant(2, RW, ("/a",)),), [ScopeInput(2, "READ")], id="drop-resources"),
    pytest.param((Grant(2, RW, ("/a",)),), [ScopeInput(2, "READ", ["/a", "/b"])], id="add-res"),
]


@pytest.mark.parametrize(("held", "asked"), WIDENING)
async def test_token_actor_cannot_create_beyond_its_grants(
    world: World, held: tuple[Grant, ...], asked: list[ScopeInput]
) -> None:
    error = await _error(world, _request(world, scopes=asked), _token_actor(world, *held))
    assert isinstance(error, AccessDenied)


async def test_token_actor_may_create_within_its_grants(world: World) -> None:
    actor = _token_actor(world, Grant(1, RW), Grant(2, READ, ("/a", "/b")))
    client, _ = await world.service.create(
        actor,
        _request(world, scopes=[ScopeInput(1, "READ", ["/x"]), ScopeInput(2, "READ", ["/b"])]),
    )
    assert [g.entity_id for g in client.grants] == [1, 2]


async def test_token_actor_cannot_widen_by_update(world: World) -> None:
    client, _ = await world.service.create(
        world.admin, _request(world, scopes=[ScopeInput(2, "READ")])
    )
    actor = _token_actor(world, Grant(2, READ))
    with pytest.raises(AccessDenied):
        await world.service.update(
            actor,
            client.client_key,
            _request(world, scopes=[ScopeInput(2, "WRITE")]),
            if_match=None,
        )
    assert world.store.clients.rows[client.id][0].grants == (Grant(2, READ),)


async def test_token_actor_cannot_touch_a_client_wider_than_itself(world: World) -> None:
    client, _ = await world.service.create(world.admin, _request(world))
    narrow = _token_actor(world, Grant(2, READ))
    with pytest.raises(AccessDenied):
        await world.service.update(
            narrow,
            client.client_key,
            _request(world, scopes=[ScopeInput(2, "READ")]),
            if_match=None,
        )
    with pytest.raises(AccessDenied):
        await world.service.delete(narrow, client.client_key, if_match=None)
    assert world.store.clients.rows[client.id][0].is_valid is True
