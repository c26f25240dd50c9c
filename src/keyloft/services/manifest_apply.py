"""Applying a manifest: plan it (one read); when it changes more than one org, rehearse the
whole plan in one write transaction that is then rolled back, so that whatever the rules
refuse is found before anything is written; then carry it out one transaction per org, in
the file's order (a plan that changes one org is all or nothing in its one transaction).

Each step is the use case the API or the operator commands run, with their checks, limits and
audit events: ``OrgService`` and ``OrgSettings`` for orgs, entities and Tills, and
``ClientService`` for clients, which acts as the client's default Till (the client's
attribution names it) while its audit events name the operator (``OperatorAttributed``).
An org with nothing to change is not written to at all, so applying a file twice writes
nothing the second time. New clients' secrets and new Tills' passwords are returned once, in
the result, and kept nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from keyloft.domain.actors import Actor, Principal, PrincipalKind
from keyloft.domain.audit import Operator
from keyloft.domain.certificate_names import NAME_FIELDS
from keyloft.domain.clients import ScopeInput, etag
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.errors import KeyloftError, StoreFailure, VersionMismatch
from keyloft.domain.orgs import Org
from keyloft.manifest.model import ClientSpec, Manifest
from keyloft.manifest.problems import ManifestInvalid, Path, Problem
from keyloft.services.client_requests import ClientRequest, CredentialRequest
from keyloft.services.clients import ClientService
from keyloft.services.manifest_plan import ClientStep, OrgDefaults, OrgPlan, Plan, file_field
from keyloft.services.manifest_planner import plan_manifest
from keyloft.services.operator_attribution import OperatorAttributed
from keyloft.services.org_settings import OrgSettings
from keyloft.services.orgs import OrgService
from keyloft.services.ports import Clock, Store

Status = Literal["applied", "unchanged", "failed", "skipped"]


class Transactions(Protocol):
    """Units of work: committed when the block ends (what they changed then announced to
    running nodes), rolled back when it raises."""

    def __call__(self, *, write: bool) -> AbstractAsyncContextManager[Store]: ...


@dataclass(frozen=True, slots=True)
class NewClient:
    client_key: str
    secret: str | None
    """Shown once: Keyloft keeps only its hash. None for a client without a secret."""


@dataclass(slots=True)
class OrgResult:
    org_id: int | None = None
    clients: dict[str, NewClient] = field(default_factory=dict)
    """By client name: the clients made, and those an update gave a secret."""
    tills: dict[str, tuple[int, str]] = field(default_factory=dict)
    """By code: each new Till's id and password (shown once)."""


@dataclass(frozen=True, slots=True)
class OrgOutcome:
    status: Status
    result: OrgResult = field(default_factory=OrgResult)
    problem: Problem | None = None


class _Rehearsed(Exception):
    """Ends a rehearsal: its transaction rolls back."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """What applying needs of the deployment: its clock, the secret hasher, the operator at
    the command line, new orgs' defaults, and the switches the client checks depend on."""

    clock: Clock
    hasher: SecretHasher
    operator: Operator
    defaults: OrgDefaults
    allow_http: bool = False
    """Whether jwksUri and federated issuers may be http:// (development only)."""
    client_ca: bool = False
    """Whether the deployment trusts a CA for tls_client_auth clients."""


class ManifestApplication:
    def __init__(self, transactions: Transactions, deployment: Deployment) -> None:
        self._transactions = transactions
        self._deployment = deployment

    async def plan(self, manifest: Manifest, *, prune: bool) -> Plan:
        """The plan, checked as far as reading allows; ``ManifestInvalid`` otherwise."""
        async with self._transactions(write=False) as store:
            return await plan_manifest(
                store,
                manifest,
                prune=prune,
                defaults=self._deployment.defaults,
                allow_http=self._deployment.allow_http,
            )

    async def carry_out(self, plan: Plan, *, dry_run: bool) -> list[OrgOutcome] | None:
        """Rehearse the plan when that is what tells its problems before anything is written
        (a dry run; several orgs to change), then, unless ``dry_run``, apply it. ``None``
        when nothing was to be applied."""
        if dry_run or sum(org.writes for org in plan.orgs) > 1:
            await self.rehearse(plan)
        if dry_run or not plan.writes:
            return None
        return await self.apply(plan)

    async def rehearse(self, plan: Plan) -> None:
        """Carry out the whole plan in one transaction and roll it back: ``ManifestInvalid``
        naming the first step the rules refuse. Nothing is written either way."""
        if not plan.writes:
            return
        try:
            async with self._transactions(write=True) as store:
                for org in plan.orgs:
                    if org.writes:
                        await _OrgRun(self._deployment, store, org).run()
                raise _Rehearsed
        except _Rehearsed:
            return

    async def apply(self, plan: Plan) -> list[OrgOutcome]:
        """Carry out the plan, one transaction per org. A failure before any org committed
        raises (``ManifestInvalid``, ``StoreFailure``): nothing was changed, so a plan that
        changes one org needs no rehearsal. After one committed, the org that fails is rolled
        back, the orgs after it are skipped, and those before it stay applied."""
        outcomes: list[OrgOutcome] = []
        applied = failed = False
        for org in plan.orgs:
            if not org.writes:
                outcomes.append(OrgOutcome("unchanged", OrgResult(_org_id(org))))
            elif failed:
                outcomes.append(OrgOutcome("skipped", OrgResult(_org_id(org))))
            else:
                try:
                    async with self._transactions(write=True) as store:
                        result = await _OrgRun(self._deployment, store, org).run()
                except ManifestInvalid as refused:
                    if not applied:
                        raise
                    failed = True
                    outcomes.append(OrgOutcome("failed", problem=refused.problems[0]))
                except StoreFailure as failure:
                    if not applied:
                        raise
                    failed = True
                    problem = Problem(("orgs", org.index), failure.message)
                    outcomes.append(OrgOutcome("failed", problem=problem))
                else:
                    applied = True
                    outcomes.append(OrgOutcome("applied", result))
        return outcomes


def _org_id(plan: OrgPlan) -> int | None:
    return plan.state.org.id if plan.state is not None else None


@contextmanager
def _at(path: Path, fields: dict[str, Path] | None = None) -> Iterator[None]:
    """A refusal of the rules inside the block becomes a problem at ``path``, at the field it
    names (the API's name, translated by ``fields`` or else as a client's)."""
    try:
        yield
    except KeyloftError as refused:
        named = refused.field or ""
        where = fields.get(named.split("[")[0], ()) if fields is not None else file_field(named)
        if isinstance(refused, VersionMismatch):
            message = "it changed since the plan was made; run apply again"
        else:
            message = refused.message
        raise ManifestInvalid([Problem((*path, *where), message)]) from None


class _OrgRun:
    """One org's plan, carried out in ``store``."""

    def __init__(self, deployment: Deployment, store: Store, plan: OrgPlan) -> None:
        self._store = store
        self._plan = plan
        self._base: Path = ("orgs", plan.index)
        self._ttl_ceiling = deployment.defaults.ttl_ceiling
        operator, clock = deployment.operator, deployment.clock
        self._orgs = OrgService(store, clock, operator=operator)
        self._settings = OrgSettings(store, clock, operator=operator)
        self._clients = ClientService(
            OperatorAttributed(store, operator),
            deployment.hasher,
            clock,
            operator.context,
            allow_http=deployment.allow_http,
            client_ca=deployment.client_ca,
        )
        self._result = OrgResult()

    async def run(self) -> OrgResult:
        plan = self._plan
        org = await self._org()
        self._result.org_id = org.id
        await self._entities(org)
        tills = await self._tills(org)
        entity_ids = {entity.name: entity.id for entity in await self._store.scopes.list(org.id)}
        steps = plan.clients
        for step in steps:
            if step.change.action == "delete":
                await self._delete(step, tills)
        for step in steps:
            if step.change.action in ("update", "create"):
                await self._write(step, tills, entity_ids)
        if plan.settings_last:
            await self._update_org(org, plan.settings_last)
        return self._result

    async def _org(self) -> Org:
        plan = self._plan
        if plan.state is None:
            settings = plan.settings_first
            with _at(self._base, _ORG_FIELDS):
                return await self._orgs.create_org(
                    name=plan.spec.name,
                    timezone=settings["timezone"],
                    max_clients=settings["maxClients"],
                    max_token_ttl=settings["maxTokenTtl"],
                    ttl_ceiling=self._ttl_ceiling,
                )
        if plan.settings_first:
            return await self._update_org(plan.state.org, plan.settings_first)
        return plan.state.org

    async def _update_org(self, org: Org, settings: dict[str, Any]) -> Org:
        fields = dict(_ORG_FIELDS)
        fields[""] = (next(iter(settings)),)  # a limit below use names no field
        with _at(self._base, fields):
            return await self._settings.update(
                org.id,
                ttl_ceiling=self._ttl_ceiling,
                timezone=settings.get("timezone"),
                max_clients=settings.get("maxClients"),
                max_token_ttl=settings.get("maxTokenTtl"),
            )

    async def _entities(self, org: Org) -> None:
        for change, spec in self._plan.entities:
            if change.action != "create":
                continue
            path = change.path[:-1]
            with _at(path, {"entity": ("name",), "pattern": ("pattern",), "": ("name",)}):
                assert spec.pattern is not None  # planning refuses a new entity without one
                await self._orgs.add_scope(org_id=org.id, name=spec.name, area_pattern=spec.pattern)

    async def _tills(self, org: Org) -> dict[str, Principal]:
        state = self._plan.state
        tills = {p.code: p for p in state.principals.values()} if state is not None else {}
        for change, spec in self._plan.tills:
            if change.action != "create":
                continue
            with _at(change.path[:-1], {"code": ("code",), "": ("code",)}):
                made = await self._orgs.add_principal(
                    org_id=org.id, kind=PrincipalKind.TILL, code=spec.code, name=spec.name
                )
            tills[spec.code] = made.principal
            self._result.tills[spec.code] = (made.principal.id, made.password)
        return tills

    async def _delete(self, step: ClientStep, tills: dict[str, Principal]) -> None:
        client = step.current
        assert client is not None
        acting = next((p for p in tills.values() if p.id == client.default_till_id), None)
        if acting is None:
            acting = await self._store.principals.get(client.default_till_id)
        assert acting is not None  # a client's default Till is never removed
        with _at(step.change.path):
            await self._clients.delete(Actor(acting), client.client_key, if_match=etag(client))

    async def _write(
        self, step: ClientStep, tills: dict[str, Principal], entity_ids: dict[str, int]
    ) -> None:
        spec = step.spec
        assert spec is not None
        path = step.change.path[:-1]
        actor = Actor(tills[spec.defaultTill])
        request = _request(spec, tills, entity_ids)
        with _at(path):
            if step.current is None:
                client, secret = await self._clients.create(actor, request)
            else:
                client, secret = await self._clients.update(
                    actor, step.current.client_key, request, if_match=etag(step.current)
                )
        if step.current is None or secret is not None:
            self._result.clients[spec.name] = NewClient(client.client_key, secret)


_ORG_FIELDS: dict[str, Path] = {
    "name": ("name",),
    "timezone": ("timezone",),
    "maxClients": ("maxClients",),
    "maxTokenTtl": ("maxTokenTtl",),
}


def _request(
    spec: ClientSpec, tills: dict[str, Principal], entity_ids: dict[str, int]
) -> ClientRequest:
    """What the API would be asked for: the whole client, every field as the file says (one
    left out is its default, so a key no longer listed is removed)."""
    return ClientRequest(
        name=spec.name,
        description=spec.description,
        expiration_token_time=spec.expirationTokenTime,
        default_till_id=tills[spec.defaultTill].id,
        scopes=[
            ScopeInput(entity_ids[scope.entity], scope.permission, list(scope.resources))
            for scope in spec.scopes
        ],
        credentials=CredentialRequest(
            auth_method=spec.tokenEndpointAuthMethod,
            jwks=spec.jwks,
            jwks_uri=spec.jwksUri,
            federated=[rule.model_dump(exclude_none=True) for rule in spec.federatedCredentials],
            tls_names={name: getattr(spec, name) for name in NAME_FIELDS},
        ),
        dpop_bound=spec.dpopBoundAccessTokens,
        certificate_bound=spec.tlsClientCertificateBoundAccessTokens,
    )
