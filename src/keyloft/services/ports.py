"""The ports services depend on; ``keyloft.storage`` implements them."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from keyloft.domain.accounts import Account
from keyloft.domain.actors import Principal, PrincipalKind
from keyloft.domain.audit import AuditEvent
from keyloft.domain.clients import CLIENT_SECRET, NO_CREDENTIALS, Client, ClientCredentials
from keyloft.domain.governance import NO_GOVERNANCE, Governance
from keyloft.domain.orgs import Org
from keyloft.domain.registration import Registration
from keyloft.domain.scopes import Grant, ScopeEntity
from keyloft.domain.usage import UsageRow
from keyloft.domain.webhooks import Delivery, Event, ExpiringSecret, Webhook


@dataclass(frozen=True, slots=True)
class StoredKey:
    kid: str
    algorithm: str
    encrypted_private_key: str
    created_at: datetime
    activates_at: datetime | None = None
    retired_at: datetime | None = None

    @property
    def starts(self) -> datetime:
        """When the key starts signing."""
        return self.activates_at or self.created_at


@dataclass(frozen=True, slots=True)
class ClientSecrets:
    """A client's secret hash (None: it has no secret), and the one it replaced while that is
    in its grace period."""

    current: str | None
    previous: str | None = None
    previous_expires_at: datetime | None = None
    current_expires_at: datetime | None = None
    """When the current secret stops working (``clientSecretExpiresAt``; None: never)."""

    def previous_at(self, now: datetime) -> str | None:
        """The replaced secret's hash if it is still accepted at ``now``."""
        expires = self.previous_expires_at
        return self.previous if expires is not None and now < expires else None


@dataclass(slots=True)
class Changes:
    """What a unit of work changed, announced to every node once it has committed."""

    clients: set[int] = field(default_factory=set)
    orgs: set[int] = field(default_factory=set)
    revoked: dict[str, float] = field(default_factory=dict)  # jti -> expiry (epoch seconds)
    keys: bool = False  # the signing keys changed
    # Failed-attempt subjects (their digest) that reached their limit -> end of the block
    # (epoch seconds). Not a change of the store: a mark every node's guard should know.
    blocked: dict[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.clients or self.orgs or self.revoked or self.keys or self.blocked)


@dataclass(frozen=True, slots=True)
class ClientState:
    """What the hot paths need about a client, cached per node."""

    client: Client
    secret_hash: str | None
    entities: tuple[ScopeEntity, ...]
    default_till: Principal | None
    previous_secret_hash: str | None = None
    previous_secret_expires_at: datetime | None = None
    org: Org | None = None  # for rendering the client (its zone) without reading the org

    @property
    def secrets(self) -> ClientSecrets:
        return ClientSecrets(
            self.secret_hash, self.previous_secret_hash, self.previous_secret_expires_at
        )


@dataclass(frozen=True, slots=True)
class ClientPage:
    """Which of an org's clients to list: ``name_contains`` ignores case; ``after_id``
    continues after the last client of a previous page."""

    org_id: int
    include_invalid: bool = False
    name_contains: str | None = None
    after_id: int | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failed attempts per ``window`` seconds."""

    failures: int
    window: int


class OrgRepository(Protocol):
    async def get(self, org_id: int) -> Org | None: ...
    async def lock(self, org_id: int) -> None:
        """Serialise writers of this org's clients until the transaction ends."""

    async def add(
        self, *, name: str, timezone: str, max_clients: int, max_token_ttl: int, now: datetime
    ) -> Org: ...
    async def find_by_name(self, name: str) -> Org | None: ...
    async def list(self) -> builtins.list[Org]:
        """Every org, in id order."""

    async def update(self, org: Org) -> None:
        """Store ``org``'s name, time zone and limits (announced: nodes drop their copies)."""


class PrincipalRepository(Protocol):
    async def credentials(self, code: str) -> tuple[Principal, str] | None:
        """The principal whose login is ``code`` and its password hash."""

    async def get(self, principal_id: int) -> Principal | None: ...
    async def get_in_org(
        self, org_id: int, principal_id: int, kind: PrincipalKind
    ) -> Principal | None: ...
    async def find_in_org(
        self, org_id: int, code: str, kind: PrincipalKind
    ) -> Principal | None: ...
    async def list_in_org(self, org_id: int, kind: PrincipalKind) -> list[Principal]:
        """The org's active principals of this kind, in id order."""

    async def code_taken(self, code: str) -> bool: ...
    async def add(
        self,
        *,
        org_id: int,
        kind: PrincipalKind,
        code: str,
        name: str,
        password_hash: str,
        now: datetime,
    ) -> Principal: ...

    # Accounts. ``set_password``, ``set_active`` and ``delete`` each move the principal's
    # session epoch (ending its console sessions) and are announced, so every node drops its
    # copies of the org's logins.
    async def accounts(self, org_id: int, kind: PrincipalKind) -> list[Account]:
        """The org's principals of this kind that are not deleted, active or not, by id."""

    async def account(self, org_id: int, code: str, kind: PrincipalKind) -> Account | None:
        """The principal of this kind and login in the org, deleted or not."""

    async def session_credentials(self, code: str) -> tuple[Principal, str, int] | None:
        """The active principal whose login is ``code``, its password hash and its session
        epoch."""

    async def set_password(self, principal: Principal, password_hash: str) -> None: ...
    async def set_active(self, principal: Principal, active: bool) -> None: ...
    async def delete(self, principal: Principal, now: datetime) -> None:
        """Inactive for good; the row stays (attribution, the audit trail, its login)."""

    async def record_logins(self, logins: Mapping[int, datetime]) -> None:
        """Move each principal's last login forward to the given time (never backward)."""


class ScopeRepository(Protocol):
    async def list(self, org_id: int) -> list[ScopeEntity]: ...
    async def add(self, org_id: int, name: str, area_pattern: str | None) -> ScopeEntity: ...


class ClientRepository(Protocol):
    async def add(
        self,
        *,
        org_id: int,
        client_key: str,
        secret_hash: str | None,
        name: str,
        description: str,
        expiration_token_time: int,
        default_till_id: int,
        grants: Sequence[Grant],
        actor_id: int,
        now: datetime,
        auth_method: str = CLIENT_SECRET,
        credentials: ClientCredentials = NO_CREDENTIALS,
        dpop_bound: bool = False,
        certificate_bound: bool = False,
        governance: Governance = NO_GOVERNANCE,
        secret_expires_at: datetime | None = None,
    ) -> Client: ...
    async def get(self, org_id: int, client_key: str) -> Client | None: ...
    async def credentials(self, client_key: str) -> tuple[Client, ClientSecrets] | None:
        """The client with this key in any org, and its secret hashes."""

    async def credentials_by_id(self, client_id: int) -> tuple[Client, ClientSecrets] | None: ...
    async def set_secret_hash(
        self, client_id: int, secret_hash: str, *, replacing: str | None = None
    ) -> None:
        """Re-hash a secret under the current server secret (no version change); with
        ``replacing``, only while that is still the stored hash (no rotation overtook it)."""

    async def list(self, org_id: int, *, include_invalid: bool) -> list[Client]: ...
    async def page(self, page: ClientPage) -> builtins.list[Client]:
        """The org's clients in id order, filtered and cut as ``page`` says."""

    async def record_use(self, uses: Mapping[int, datetime]) -> None:
        """Move each client's last use forward to the given time (never backward)."""

    async def record_credential_use(self, uses: Mapping[tuple[int, str], datetime]) -> None:
        """Move each (client, credential)'s last use forward (never backward)."""

    async def credential_uses(self, client_id: int) -> dict[str, datetime]:
        """When each of the client's credentials was last used, by credential name."""

    async def record_mint_limit_hits(self, hits: Mapping[int, datetime]) -> None:
        """Move each client's last mint limit hit forward to the given time (never backward)."""

    async def count_valid(self, org_id: int) -> int: ...
    async def name_in_use(self, org_id: int, name: str, *, except_id: int | None) -> bool: ...
    async def update(
        self,
        client_id: int,
        *,
        name: str,
        description: str,
        expiration_token_time: int,
        default_till_id: int,
        grants: Sequence[Grant],
        actor_id: int,
        now: datetime,
        expected_version: int,
        auth_method: str = CLIENT_SECRET,
        credentials: ClientCredentials = NO_CREDENTIALS,
        secrets: ClientSecrets | None = None,
        dpop_bound: bool = False,
        certificate_bound: bool = False,
        governance: Governance = NO_GOVERNANCE,
    ) -> Client | None:
        """Apply a change if the stored version is still ``expected_version``; else None.
        ``secrets`` replaces the secret hashes (None: they stay)."""

    async def invalidate(
        self, client_id: int, *, actor_id: int, now: datetime, expected_version: int
    ) -> Client | None: ...
    async def set_secrets(
        self,
        client_id: int,
        secrets: ClientSecrets,
        *,
        actor_id: int,
        now: datetime,
        expected_version: int,
    ) -> Client | None:
        """Store a rotated secret (and the one in grace); None if the version moved."""


class RevocationRepository(Protocol):
    async def add(self, jti: str, client_id: int, expires_at: datetime) -> None:
        """Record a revoked token (idempotent)."""

    async def is_revoked(self, jti: str) -> bool: ...
    async def unexpired(self, now: datetime) -> list[tuple[str, datetime]]: ...


class UsedAssertionRepository(Protocol):
    async def claim(self, digest: str, expires_at: datetime) -> bool:
        """Record an assertion's first use; False when it was used before."""

    async def purge(self, now: datetime) -> int:
        """Forget the assertions that expired before ``now``; how many."""


UsageKey = tuple[int, int, datetime, str, str]
"""A usage counter: org id, client id, UTC hour, metric and reason (``""`` but for failures)."""


class UsageRepository(Protocol):
    """Counts per client and hour (``keyloft.domain.usage``)."""

    async def add(self, counts: Mapping[UsageKey, int]) -> None:
        """Add ``counts`` to the stored ones (a counter not stored yet starts at zero)."""

    async def client_hours(
        self, client_id: int, since: datetime, until: datetime
    ) -> builtins.list[UsageRow]:
        """One client's counts in the hours from ``since`` up to (not including) ``until``."""

    async def org_hours(
        self, org_id: int, since: datetime, until: datetime
    ) -> builtins.list[UsageRow]:
        """The org's counts summed over its clients, per hour, metric and reason."""

    async def top_clients(
        self, org_id: int, since: datetime, until: datetime, *, limit: int
    ) -> builtins.list[tuple[int, dict[str, int]]]:
        """The org's ``limit`` clients with the most tokens issued in the range (then the
        most counted in all), each with its totals per metric."""

    async def purge(self, before: datetime) -> int:
        """Forget the counts of the hours before ``before``; how many rows."""


class RegistrationRepository(Protocol):
    """Clients registered at the registration endpoint (RFC 7591/7592): the hash of each one's
    registration access token."""

    async def add(
        self, client_id: int, token_hash: str, *, auth_method: str, now: datetime
    ) -> None: ...
    async def find(self, client_key: str) -> Registration | None:
        """The registration of the client with this key, in any org."""

    async def rotate(
        self,
        client_id: int,
        token_hash: str,
        *,
        replacing: str,
        auth_method: str,
        now: datetime,
    ) -> bool:
        """Store a new token's hash, only while ``replacing`` is still the stored one (False
        when another update rotated it first)."""

    async def remove(self, client_id: int) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """``org_id`` None: the deployment-wide events; ``everywhere``: every org's and those."""

    org_id: int | None
    everywhere: bool = False
    target: str | None = None
    actor_code: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 50


class AuditRepository(Protocol):
    async def add(self, event: AuditEvent) -> None: ...
    async def find(self, query: AuditQuery) -> list[AuditEvent]:
        """Newest first; ``before_id`` continues after the last event of a previous page."""


class SigningKeyRepository(Protocol):
    async def list(self) -> list[StoredKey]: ...
    async def add(self, key: StoredKey, public_jwk: dict[str, object]) -> None: ...
    async def replace_encrypted(self, kid: str, encrypted_private_key: str) -> None: ...
    async def retire(self, kid: str, at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery one node has claimed for one attempt, until ``claimed_until``: the message,
    where it goes and the webhook's sealed signing secret."""

    delivery: Delivery
    url: str
    sealed_secret: str
    claim: str
    claimed_until: datetime
    retry_from: datetime
    """When its 24 hours of retries began (written, or last redelivered)."""


class WebhookRepository(Protocol):
    """Webhooks, and their outbox: one delivery row per (event, subscribed webhook), written
    in the transaction of the change that raised the event."""

    async def add(
        self,
        *,
        org_id: int,
        url: str,
        events: Sequence[str],
        description: str,
        sealed_secret: str,
        now: datetime,
    ) -> Webhook: ...
    async def list(self, org_id: int) -> builtins.list[Webhook]: ...
    async def get(self, org_id: int, webhook_id: int) -> Webhook | None: ...
    async def remove(self, org_id: int, webhook_id: int) -> bool:
        """Delete the webhook and its deliveries; False when the org has no such webhook."""

    async def enqueue(
        self, org_id: int, event: Event, now: datetime, *, dedupe: str | None = None
    ) -> int:
        """One pending delivery of ``event`` to each of the org's webhooks subscribed to its
        type (with ``dedupe``: to each that has no delivery with that key yet); how many."""

    async def expiring_secrets(
        self, now: datetime, until: datetime
    ) -> builtins.list[ExpiringSecret]:
        """The valid clients, in any org with a webhook, whose secret expires after ``now``
        and no later than ``until``."""

    async def claim(
        self, *, claim: str, now: datetime, lease: float, limit: int
    ) -> builtins.list[ClaimedDelivery]:
        """Pending deliveries due at ``now`` that no unexpired lease holds, each marked as
        claimed by ``claim`` for ``lease`` seconds and counted as one more attempt; no other
        claim can take them until the lease ends."""

    async def finish(
        self,
        delivery_id: int,
        *,
        claim: str,
        now: datetime,
        status: str,
        next_attempt_at: datetime | None,
        status_code: int | None,
        error: str | None,
    ) -> bool:
        """Record an attempt's outcome, only while ``claim`` still holds the delivery."""

    async def deliveries(
        self, webhook_id: int, *, before_id: int | None, limit: int
    ) -> builtins.list[Delivery]:
        """The webhook's deliveries, newest first."""

    async def redeliver(self, webhook_id: int, delivery_id: int, now: datetime) -> Delivery | None:
        """Make the delivery pending and due at ``now`` again (same message id)."""

    async def sealed_secrets(self) -> builtins.list[tuple[int, str]]:
        """Every webhook's id and sealed signing secret, in any org."""

    async def replace_secret(self, webhook_id: int, sealed_secret: str) -> None: ...


class Store(Protocol):
    """One unit of work: repositories sharing one transaction."""

    @property
    def changes(self) -> Changes: ...
    @property
    def orgs(self) -> OrgRepository: ...
    @property
    def principals(self) -> PrincipalRepository: ...
    @property
    def scopes(self) -> ScopeRepository: ...
    @property
    def clients(self) -> ClientRepository: ...
    @property
    def keys(self) -> SigningKeyRepository: ...
    @property
    def revocations(self) -> RevocationRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def used_assertions(self) -> UsedAssertionRepository: ...
    @property
    def registrations(self) -> RegistrationRepository: ...
    @property
    def usage(self) -> UsageRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class RemoteDocument:
    """A JSON document fetched from another server (a client's JWKS, an issuer's metadata)."""

    url: str
    body: object
    max_age: float | None
    """How long the sender allows it to be cached, in seconds (``Cache-Control: max-age``;
    0 for ``no-store``/``no-cache``); None when it does not say."""


class RemoteFetchFailed(Exception):
    """A document that could not be fetched, or was refused; ``reason`` is one word for logs
    and metrics (``scheme``, ``address``, ``resolve``, ``connect``, ``timeout``, ``too_large``,
    ``status``, ``redirect``, ``not_json``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class RemoteJson(Protocol):
    """Fetches JSON documents from other servers, behind the deployment's outbound guard."""

    async def get_json(self, url: str) -> RemoteDocument:
        """The document at ``url``; ``RemoteFetchFailed`` otherwise."""


class WebhookSender(Protocol):
    """Posts a webhook message to a URL a user named, behind the deployment's outbound guard."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The receiver's HTTP status; ``RemoteFetchFailed`` when it could not be reached or
        was refused (a redirect included)."""


class ClientCache(Protocol):
    """A node's cache of client state; ``keyloft.cache`` implements it."""

    def generation(self) -> int:
        """Take before reading the store; ``put`` drops what an invalidation overtook."""

    def by_key(self, client_key: str) -> ClientState | None: ...
    def by_id(self, client_id: int) -> ClientState | None: ...
    def put(self, state: ClientState, *, read_at: int) -> None: ...
    def org_clients(self, org_id: int) -> tuple[Org, tuple[Client, ...]] | None: ...
    def put_org_clients(self, org: Org, clients: tuple[Client, ...], *, read_at: int) -> None: ...
    def login(self, code: str) -> tuple[Principal, str] | None:
        """The active principal whose login is ``code`` and its password hash, if held."""

    def put_login(
        self, code: str, principal: Principal, password_hash: str, *, read_at: int
    ) -> None: ...


class FailureLimiter(Protocol):
    """Counts failed authentications per subject (``client:…``, ``login:…``, ``ip:…``)."""

    async def retry_after(self, subjects: Sequence[tuple[str, Limit]]) -> int | None:
        """Seconds until every blocked subject may try again; None when none is blocked."""

    async def record_failure(self, subjects: Sequence[tuple[str, Limit]]) -> None: ...


class RevocationView(Protocol):
    """A node's copy of the revoked tokens; None means "not sure: ask the store"."""

    def known_revoked(self, jti: str) -> bool | None: ...


class MintCounter(Protocol):
    """Tokens minted per client and minute, for mint limits: Redis, or one node's memory."""

    async def count(self, client_key: str, window: int) -> int:
        """Count one more token of the client (by key) in minute ``window`` (minutes since
        the epoch) and answer how many that minute holds now."""


class ReplayGuard(Protocol):
    """Single use across every node (client assertions' ``jti``): Redis, or the store."""

    async def first_use(self, key: str, expires_at: datetime) -> bool:
        """True the first time ``key`` is seen before ``expires_at``; False ever after."""

    async def purge(self, now: datetime) -> int:
        """Forget the keys that expired before ``now`` (a no-op where they expire by
        themselves); how many."""
