"""Planning a manifest: read the declared orgs from the store and compare them with the file
(``plan_manifest``), checking what can be checked without writing: the file's own
consistency (names unique, the Tills and entities it refers to exist or are declared, the
org's client limit counting the deletions, token lifetimes within the org's cap) and each
client's values by the domain rules the API applies. Every problem names its path in the
file; any problem, and nothing is applied. The plan's shape is ``manifest_plan``'s.
"""

from __future__ import annotations

from typing import Any

from keyloft.domain.clients import check_name, check_ttl
from keyloft.domain.errors import ValidationFailed
from keyloft.domain.orgs import check_org_limits
from keyloft.domain.scopes import DEFAULT_ENTITIES
from keyloft.domain.timefmt import check_timezone
from keyloft.manifest.model import ClientSpec, Manifest, OrgSpec, ScopeEntitySpec, TillSpec
from keyloft.manifest.problems import ManifestInvalid, Path, Problem, dotted
from keyloft.services.manifest_compare import changed_fields, client_view, created_fields
from keyloft.services.manifest_export import client_spec
from keyloft.services.manifest_plan import (
    Action,
    Change,
    ClientStep,
    OrgDefaults,
    OrgPlan,
    Plan,
    client_problem,
    file_field,
)
from keyloft.services.manifest_state import OrgState, read_org_state
from keyloft.services.ports import Store


async def plan_manifest(
    store: Store, manifest: Manifest, *, prune: bool, defaults: OrgDefaults, allow_http: bool
) -> Plan:
    """The plan of ``manifest`` against the store; ``ManifestInvalid`` with every problem
    found (then nothing may be applied)."""
    problems = _duplicates(manifest)
    plans: list[OrgPlan] = []
    for index, spec in enumerate(manifest.orgs):
        org = await store.orgs.find_by_name(spec.name)
        state = await read_org_state(store, org) if org is not None else None
        planner = _OrgPlanner(index, spec, state, defaults, allow_http=allow_http)
        plans.append(await planner.plan(store, prune=prune))
        problems += planner.problems
    if problems:
        raise ManifestInvalid(problems)
    return Plan(plans, prune)


def _view_or_none(spec: ClientSpec) -> dict[str, Any] | None:
    """The spec's view by the rules values were stored under (http:// URLs allowed)."""
    try:
        return client_view(spec, allow_http=True)
    except ValidationFailed:
        return None


def _duplicates(manifest: Manifest) -> list[Problem]:
    """Orgs named twice; Till codes given twice (logins are unique across orgs); entities and
    clients named twice in one org."""
    problems: list[Problem] = []

    def once(seen: dict[str, Path], key: str, path: Path, what: str) -> None:
        if key in seen:
            problems.append(
                Problem(path, f"{what} is declared twice (also at {dotted(seen[key])})")
            )
        else:
            seen[key] = path

    orgs: dict[str, Path] = {}
    codes: dict[str, Path] = {}
    for i, org in enumerate(manifest.orgs):
        base: Path = ("orgs", i)
        once(orgs, org.name, (*base, "name"), f"org {org.name!r}")
        entities: dict[str, Path] = {}
        for j, entity in enumerate(org.scopeEntities):
            path = (*base, "scopeEntities", j, "name")
            once(entities, entity.name.lower(), path, f"scope entity {entity.name!r}")
        for j, till in enumerate(org.tills):
            once(codes, till.code, (*base, "tills", j, "code"), f"Till {till.code!r}")
        clients: dict[str, Path] = {}
        for j, client in enumerate(org.clients):
            path = (*base, "clients", j, "name")
            once(clients, client.name, path, f"client {client.name!r}")
    return problems


class _OrgPlanner:
    def __init__(
        self,
        index: int,
        spec: OrgSpec,
        state: OrgState | None,
        defaults: OrgDefaults,
        *,
        allow_http: bool,
    ) -> None:
        self.base: Path = ("orgs", index)
        self.index = index
        self.spec = spec
        self.state = state
        self.defaults = defaults
        self.allow_http = allow_http
        self.problems: list[Problem] = []

    def _problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem((*self.base, *path), message))

    async def plan(self, store: Store, *, prune: bool) -> OrgPlan:
        org, first, last = self._org()
        entities, entity_names = self._entities()
        tills, till_codes = await self._tills(store)
        clients, undeclared = self._clients(entity_names, till_codes, prune=prune)
        return OrgPlan(
            self.index,
            self.spec,
            self.state,
            org,
            first,
            last,
            entities,
            tills,
            clients,
            undeclared,
        )

    # The org's settings.

    def _wanted(self) -> dict[str, Any]:
        """The settings the file gives (those it leaves out stay as they are)."""
        spec = self.spec
        given = {
            "timezone": spec.timezone,
            "maxClients": spec.maxClients,
            "maxTokenTtl": spec.maxTokenTtl,
        }
        return {name: value for name, value in given.items() if value is not None}

    def _org(self) -> tuple[Change, dict[str, Any], dict[str, Any]]:
        wanted = self._wanted()
        current = self._settings()
        settings = {**current, **wanted}
        # A new org's settings, or those the file changes, are checked (a setting kept as it
        # is stays, though a deployment's ceiling may have been lowered since).
        fields = changed_fields(current, wanted)
        checked = set(fields) if self.state is not None else set(settings)
        try:
            if "timezone" in checked:
                check_timezone(settings["timezone"])
            if "maxClients" in checked or "maxTokenTtl" in checked:
                check_org_limits(
                    settings["maxClients"], settings["maxTokenTtl"], self.defaults.ttl_ceiling
                )
        except ValidationFailed as refused:
            self._problem(file_field(refused.field), refused.message)
        path = (*self.base, "name")
        if self.state is None:
            made = {key: [None, value] for key, value in settings.items()}
            return Change("create", "org", self.spec.name, path, made), settings, {}
        first = {
            key: after
            for key, (before, after) in fields.items()
            if key == "timezone" or after > before
        }
        last = {key: after for key, (_, after) in fields.items() if key not in first}
        action: Action = "update" if fields else "unchanged"
        return Change(action, "org", self.spec.name, path, fields), first, last

    def _settings(self) -> dict[str, Any]:
        """The org's settings now (a new org: the defaults it would get)."""
        if self.state is None:
            return {
                "timezone": self.defaults.timezone,
                "maxClients": self.defaults.max_clients,
                "maxTokenTtl": self.defaults.max_token_ttl,
            }
        org = self.state.org
        return {
            "timezone": org.timezone,
            "maxClients": org.max_clients,
            "maxTokenTtl": org.max_token_ttl,
        }

    # Scope entities: only ever added.

    def _entities(self) -> tuple[list[tuple[Change, ScopeEntitySpec]], set[str]]:
        existing = {
            entity.name: entity.area_pattern
            for entity in (self.state.entities if self.state is not None else DEFAULT_ENTITIES)
        }
        folded = {name.lower(): name for name in existing}
        steps: list[tuple[Change, ScopeEntitySpec]] = []
        for j, spec in enumerate(self.spec.scopeEntities):
            path: Path = ("scopeEntities", j)
            full = (*self.base, *path, "name")
            if spec.name in existing:
                held = existing[spec.name]
                if spec.pattern is not None and spec.pattern != held:
                    self._problem(
                        (*path, "pattern"),
                        f"the scope entity {spec.name!r} exists with the pattern {held!r}; "
                        "an entity's pattern cannot be changed",
                    )
                steps.append((Change("unchanged", "scopeEntity", spec.name, full), spec))
            elif spec.name.lower() in folded:
                self._problem(
                    (*path, "name"),
                    f"the org's scope entity is named {folded[spec.name.lower()]!r}",
                )
            elif spec.pattern is None:
                self._problem(path, "a new scope entity needs a pattern")
            else:
                fields = {"pattern": [None, spec.pattern]}
                steps.append((Change("create", "scopeEntity", spec.name, full, fields), spec))
        return steps, set(existing) | {spec.name for spec in self.spec.scopeEntities}

    # Tills: only ever added.

    async def _tills(self, store: Store) -> tuple[list[tuple[Change, TillSpec]], set[str]]:
        existing = (
            {account.principal.code: account.principal for account in self.state.tills}
            if self.state is not None
            else {}
        )
        steps: list[tuple[Change, TillSpec]] = []
        for j, spec in enumerate(self.spec.tills):
            path: Path = ("tills", j)
            full = (*self.base, *path, "code")
            held = existing.get(spec.code)
            if held is not None:
                if spec.name is not None and spec.name != held.name:
                    self._problem(
                        (*path, "name"),
                        f"the Till {spec.code!r} is named {held.name!r}; apply does not "
                        "rename Tills",
                    )
                steps.append((Change("unchanged", "till", spec.code, full), spec))
            elif await store.principals.code_taken(spec.code):
                self._problem(
                    (*path, "code"),
                    f"the login {spec.code!r} is taken (by another org's Till or admin, an "
                    "admin of this org, or a deleted account)",
                )
            else:
                fields = {"name": [None, spec.name or spec.code]}
                steps.append((Change("create", "till", spec.code, full, fields), spec))
        known = {p.code for p in self.state.principals.values()} if self.state else set()
        return steps, known | {spec.code for spec in self.spec.tills}

    # Clients.

    def _clients(
        self, entity_names: set[str], till_codes: set[str], *, prune: bool
    ) -> tuple[list[ClientStep], list[str]]:
        state = self.state
        current = {client.name: client for client in state.clients} if state else {}
        steps: list[ClientStep] = []
        for j, spec in enumerate(self.spec.clients):
            path: Path = ("clients", j)
            if not self._refers_to_known(spec, path, entity_names, till_codes):
                continue
            full = (*self.base, *path, "name")
            held = current.get(spec.name)
            before = (
                client_view(client_spec(held, state), allow_http=True)
                if held is not None and state is not None
                else None
            )
            try:
                wanted = client_view(spec, allow_http=self.allow_http)
            except ValidationFailed as refused:
                if before is None or _view_or_none(spec) != before:
                    self.problems.append(client_problem(refused, (*self.base, *path)))
                    continue
                wanted = before  # as stored, though no longer allowed: left as it is
            if before is None:
                change = Change("create", "client", spec.name, full, created_fields(wanted))
            else:
                fields = changed_fields(before, wanted)
                action: Action = "update" if fields else "unchanged"
                change = Change(action, "client", spec.name, full, fields)
            if change.action != "unchanged" and not self._writable(spec, path):
                continue
            steps.append(ClientStep(change, spec, held))
        declared = {spec.name for spec in self.spec.clients}
        left = [client for client in current.values() if client.name not in declared]
        if prune:
            where = (*self.base, "clients")
            steps += [
                ClientStep(Change("delete", "client", client.name, where), None, client)
                for client in left
            ]
        self._check_limit(steps, len(current))
        return steps, [] if prune else [client.name for client in left]

    def _refers_to_known(
        self, spec: ClientSpec, path: Path, entity_names: set[str], till_codes: set[str]
    ) -> bool:
        known = True
        if spec.defaultTill not in till_codes:
            self._problem(
                (*path, "defaultTill"),
                f"no Till {spec.defaultTill!r} in org {self.spec.name!r}: declare it under tills",
            )
            known = False
        for k, scope in enumerate(spec.scopes):
            if scope.entity not in entity_names:
                self._problem(
                    (*path, "scopes", k, "entity"),
                    f"no scope entity {scope.entity!r} in org {self.spec.name!r}; it has "
                    f"{', '.join(sorted(entity_names))} (declare others under scopeEntities)",
                )
                known = False
        return known

    def _writable(self, spec: ClientSpec, path: Path) -> bool:
        """The rules a client to be written must meet that its values alone do not tell: a
        name the API takes, a token lifetime within the org's cap (one the file may raise),
        an active default Till. A client left unchanged is not held to a cap lowered, or a
        Till disabled, since it was written."""
        cap = self.spec.maxTokenTtl or self._settings()["maxTokenTtl"]
        try:
            check_name(spec.name)
            check_ttl(spec.expirationTokenTime, cap)
        except ValidationFailed as refused:
            self.problems.append(client_problem(refused, (*self.base, *path)))
            return False
        disabled = self.state is not None and any(
            account.principal.code == spec.defaultTill and not account.active
            for account in self.state.tills
        )
        if disabled:
            self._problem(
                (*path, "defaultTill"),
                f"the Till {spec.defaultTill!r} is disabled: a client being created or changed "
                "cannot act as it",
            )
        return not disabled

    def _check_limit(self, steps: list[ClientStep], active: int) -> None:
        """At most maxClients active clients once the plan is carried out (deletes first)."""
        limit = self.spec.maxClients or self._settings()["maxClients"]
        deletes = sum(step.change.action == "delete" for step in steps)
        creates = [step for step in steps if step.change.action == "create"]
        room = limit - (active - deletes)
        if len(creates) > max(room, 0):
            first = creates[max(room, 0)].change.path[:-1]
            self.problems.append(
                Problem(
                    first,
                    f"org {self.spec.name!r} allows {limit} active API clients (maxClients); "
                    f"this file would make {active - deletes + len(creates)}",
                )
            )
