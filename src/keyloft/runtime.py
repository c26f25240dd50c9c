"""A running node: the database, key ring, caches, bus and limits, built once per process from
the settings and kept fresh from the store and the bus, and the services that use them
(``Runtime.services``). The one place where every layer is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.asyncio import Redis

from keyloft.cache.bus import LocalBus, RedisBus
from keyloft.cache.client_state import ClientStateCache
from keyloft.cache.mint_counter import MemoryMintCounter, RedisMintCounter
from keyloft.cache.node import NodeCopies
from keyloft.cache.ratelimit import MemoryLimiter, RedisLimiter
from keyloft.cache.replay import RedisReplays
from keyloft.cache.revocations import RevokedTokens
from keyloft.cache.sqlite_replay import SqliteReplays, path_beside
from keyloft.cache.sqlite_watch import DataVersionWatch
from keyloft.config import Settings
from keyloft.domain.addresses import Network, parse_networks
from keyloft.domain.certificate_trust import ClientCertificateTrust
from keyloft.domain.credentials import SecretHasher
from keyloft.domain.signing import KeyRing
from keyloft.outbound import FetchPolicy, JsonFetcher
from keyloft.outbound.webhook_post import WebhookPoster, webhook_policy
from keyloft.services.clock import SystemClock
from keyloft.services.container import Services
from keyloft.services.dpop import DpopNonces
from keyloft.services.guard import AttemptGuard
from keyloft.services.key_sets import RemoteKeySets
from keyloft.services.keys import ServerKeys, load_key_ring
from keyloft.services.login_cache import LoginCache
from keyloft.services.mint_limits import MintLimits
from keyloft.services.ports import Changes, Clock, FailureLimiter, Limit, ReplayGuard, Store
from keyloft.services.replays import StoreReplays
from keyloft.services.server_secret import previous_server_keys
from keyloft.services.server_secret import server_keys as current_server_keys
from keyloft.services.usage import UsageLog
from keyloft.services.usage_counts import stored_counts
from keyloft.services.verified_tokens import VerifiedTokens
from keyloft.services.webhook_delivery import DeliveryWorker
from keyloft.services.webhook_events import raise_expiring_secrets, raise_mint_limit_events
from keyloft.services.webhook_secrets import WebhookSecrets
from keyloft.services.webhooks import WebhookAdministration
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database

log = logging.getLogger("keyloft.runtime")
REFRESH_SECONDS = 60.0
PURGE_SECONDS = 300.0


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: Database
    server_keys: ServerKeys
    previous_keys: list[ServerKeys]
    key_ring: KeyRing
    logins: LoginCache
    hasher: SecretHasher
    cache: ClientStateCache
    revoked: RevokedTokens
    copies: NodeCopies
    bus: LocalBus
    guard: AttemptGuard
    trusted_proxies: tuple[Network, ...]
    redis: Redis | None = None
    watch: DataVersionWatch | None = None
    client_trust: ClientCertificateTrust | None = None
    """The CAs of tls_client_auth (KEYLOFT_CLIENT_CA_CERTS, read at start-up); None: off."""
    clock: Clock = field(default_factory=SystemClock)
    usage: UsageLog = field(default_factory=UsageLog)
    mint_limits: MintLimits = field(init=False)
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    services: Services = field(init=False)
    fetcher: JsonFetcher = field(init=False)
    key_sets: RemoteKeySets = field(init=False)
    replays: ReplayGuard = field(init=False)
    dpop_nonces: DpopNonces | None = field(init=False)
    webhooks: WebhookAdministration = field(init=False)
    webhook_sender: WebhookPoster = field(init=False)
    deliveries: DeliveryWorker = field(init=False)
    _tickers: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.services = Services(self)
        self.fetcher = JsonFetcher(FetchPolicy(allow_http=self.settings.federation_allow_http))
        self.key_sets = RemoteKeySets(self.fetcher, wall=lambda: self.now().timestamp())
        self.replays = self._replays()
        self.mint_limits = MintLimits(
            RedisMintCounter(self.redis) if self.redis is not None else MemoryMintCounter()
        )
        allow_http = self.settings.webhooks_allow_http
        self.webhooks = WebhookAdministration(
            self.transaction, lambda: self.clock, self.webhook_secrets, allow_http=allow_http
        )
        self.webhook_sender = WebhookPoster(webhook_policy(allow_http=allow_http))
        self.deliveries = DeliveryWorker(
            self.transaction, lambda: self.clock, self.webhook_sender, self.webhook_secrets
        )
        self.dpop_nonces = (
            DpopNonces(self.server_keys.dpop_nonce)
            if self.settings.dpop_nonce == "required"
            else None
        )

    def _replays(self) -> ReplayGuard:
        """Where single use is kept: Redis when the nodes share one; else a file beside the
        SQLite database (its commits must not look like changes to the database); else the
        store."""
        if self.redis is not None:
            return RedisReplays(self.redis)
        sqlite_path = self.settings.sqlite_path
        if sqlite_path is not None:
            return SqliteReplays(path_beside(sqlite_path))
        return StoreReplays(self.transaction)

    def webhook_secrets(self) -> WebhookSecrets:
        return WebhookSecrets(self.server_keys, self.previous_keys)

    @property
    def federation_allow_http(self) -> bool:
        return self.settings.federation_allow_http

    def now(self) -> datetime:
        """The node's one clock, as the key ring and the token cache read it too."""
        return self.clock.now()

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def audience(self) -> str:
        return self.settings.token_audience

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[Store]:
        """One unit of work, begun at its first query: committed when the block ends, rolled
        back when it raises; what it changed is announced to every node after the commit."""
        async with self.database.lazy_unit_of_work(write=write) as store:
            yield store
        if store.changes:
            await self.bus.publish(store.changes)

    async def refresh(self) -> None:
        """Reload signing keys and unexpired revocations from the store."""
        async with self.database.unit_of_work(write=False) as store:
            ring = await load_key_ring(
                store,
                self.server_keys,
                self.previous_keys,
                token_lifetime=self.settings.token_ttl_ceiling,
                clock=self.now,
                known=self.key_ring,
            )
            revoked = await store.revocations.unexpired(self.clock.now())
        self.key_ring = ring
        self.revoked.load((jti, expires.timestamp()) for jti, expires in revoked)

    async def flush_usage(self) -> int:
        """Write the clients' uses, the principals' logins, the usage counts and the mint limit
        hits noted since the last flush, in one transaction (one commit for every worker's
        watch to notice, not one per kind); a batch that cannot be written is kept for the next
        flush. Returns how many clients were used."""
        batch, credentials = self.usage.take(), self.usage.take_credentials()
        logins = self.usage.take_logins()
        counts, dropped = self.usage.counts.take()
        hits = self.mint_limits.take_hits()
        if dropped:
            log.warning("usage counters full: %d counts dropped since the last flush", dropped)
        if not batch and not credentials and not logins and not counts and not hits:
            return 0
        try:
            async with self.database.unit_of_work(write=True) as store:
                await store.clients.record_use(batch)
                await store.clients.record_credential_use(credentials)
                await store.principals.record_logins(logins)
                await store.usage.add(stored_counts(counts))
                await _write_mint_limit_hits(store, hits)
        except BaseException:
            self.usage.give_back(batch, credentials, logins)
            self.usage.counts.give_back(counts)
            self.mint_limits.give_back(hits)
            raise
        return len(batch)

    async def purge_usage(self) -> int:
        """Forget the usage counts older than ``KEYLOFT_USAGE_RETENTION_DAYS``."""
        before = self.now() - timedelta(days=self.settings.usage_retention_days)
        async with self.database.unit_of_work(write=True) as store:
            return await store.usage.purge(before)

    async def flush_mint_limit_hits(self) -> int:
        """Write only which clients went beyond their mint limit since the last flush
        (docs/governance.md); how many. The periodic flush writes them with the uses."""
        hits = self.mint_limits.take_hits()
        if not hits:
            return 0
        try:
            async with self.database.unit_of_work(write=True) as store:
                await _write_mint_limit_hits(store, hits)
        except BaseException:
            self.mint_limits.give_back(hits)
            raise
        return len(hits)

    async def purge_used_assertions(self) -> int:
        """Forget the used assertions and proofs that have expired (Redis forgets its own)."""
        return await self.replays.purge(self.now())

    async def raise_expiring_secrets(self) -> int:
        """Queue the webhook events of client secrets nearing their expiry."""
        async with self.database.unit_of_work(write=True) as store:
            return await raise_expiring_secrets(store, self.now())

    async def deliver_webhooks(self) -> int:
        """One pass of the webhook delivery worker (``services/webhook_delivery.py``)."""
        return await self.deliveries.run_once()

    async def _every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except Exception as exc:  # the store may be away; the next tick tries again
                log.warning("periodic %s failed: %s", work.__name__, type(exc).__name__)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tickers = [
            loop.create_task(self._every(REFRESH_SECONDS, self.refresh)),
            loop.create_task(self._every(self.settings.usage_flush_seconds, self.flush_usage)),
            loop.create_task(self._every(PURGE_SECONDS, self.purge_used_assertions)),
            loop.create_task(
                self._every(self.settings.webhooks_poll_seconds, self.deliver_webhooks)
            ),
            loop.create_task(self._every(PURGE_SECONDS, self.raise_expiring_secrets)),
            loop.create_task(self._every(PURGE_SECONDS, self.purge_usage)),
        ]
        await self.bus.start()

    async def stop(self) -> None:
        """Stop background work (tickers, bus, Redis) and write the last uses; the database
        stays open."""
        for ticker in self._tickers:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self._tickers = []
        try:
            await self.flush_usage()
        except Exception as exc:
            log.warning("writing the last client uses failed: %s", type(exc).__name__)
        await self.bus.stop()
        await self.fetcher.aclose()
        await self.webhook_sender.aclose()
        await self.copies.close()
        await self.copies.settle()
        if self.watch is not None:
            self.watch.close()
        if isinstance(self.replays, SqliteReplays):
            self.replays.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def close(self) -> None:
        await self.stop()
        await self.database.dispose()


async def _write_mint_limit_hits(store: Store, hits: dict[int, datetime]) -> None:
    if hits:
        await raise_mint_limit_events(store, hits)
        await store.clients.record_mint_limit_hits(hits)


class UnusableClientCa(RuntimeError):
    """KEYLOFT_CLIENT_CA_CERTS names a bundle the node cannot use."""


def load_client_trust(settings: Settings) -> ClientCertificateTrust | None:
    """The CA bundle of tls_client_auth, read once; None when the deployment has none."""
    path = settings.client_ca_certs
    if path is None:
        return None
    try:
        return ClientCertificateTrust.from_pem(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UnusableClientCa(f"KEYLOFT_CLIENT_CA_CERTS: {path}: {exc}") from None


def _redis(url: str) -> Redis:
    # Short timeouts: a Redis outage must degrade a request by milliseconds, not seconds.
    return Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=5
    )


async def build_runtime(settings: Settings, *, database: Database | None = None) -> Runtime:
    """Everything a node needs before it answers; fails with a clear message when unusable."""
    server_keys, previous = current_server_keys(settings), previous_server_keys(settings)
    trust = load_client_trust(settings)
    database = database or Database(
        create_engine(settings.database_url, pool_size=settings.db_pool_size)
    )
    runtime_box: list[Runtime] = []

    def now() -> datetime:  # the node's clock, once there is a node
        return runtime_box[0].now() if runtime_box else SystemClock().now()

    async with database.unit_of_work(write=False) as store:
        key_ring = await load_key_ring(
            store, server_keys, previous, token_lifetime=settings.token_ttl_ceiling, clock=now
        )
    redis = _redis(settings.redis_url) if settings.redis_url else None
    # Without Redis, processes cannot tell each other about changes. On SQLite each notices
    # any other process's commits by looking (other workers, the command line); on PostgreSQL
    # a lone process trusts its copies and several run without the client cache.
    sqlite_path = settings.sqlite_path if redis is None else None
    may_cache = redis is not None or settings.workers == 1 or sqlite_path is not None
    cache = ClientStateCache(ttl=settings.client_cache_seconds)
    revoked = RevokedTokens()

    async def refresh() -> None:
        await runtime_box[0].refresh()

    shared_limiter = RedisLimiter(redis) if redis is not None else None
    copies = NodeCopies(
        cache, revoked, refresh=refresh, may_cache=may_cache, limiter=shared_limiter
    )
    watch = None
    if sqlite_path is not None:
        watch = DataVersionWatch(sqlite_path, copies.stale)
        cache.watch = revoked.watch = watch.check
    limiter: FailureLimiter
    bus: LocalBus
    if redis is not None and shared_limiter is not None:
        bus = RedisBus(copies, redis)
        limiter = shared_limiter
        shared_limiter.announce = lambda marks: bus.publish(Changes(blocked=marks))
    else:
        bus, limiter = LocalBus(copies), MemoryLimiter()
        cache.enabled = may_cache
    window = settings.auth_failure_window_seconds
    runtime = Runtime(
        settings=settings,
        database=database,
        server_keys=server_keys,
        previous_keys=previous,
        key_ring=key_ring,
        logins=LoginCache(server_keys.login_cache, settings.basic_auth_cache_seconds),
        hasher=SecretHasher(
            server_keys.client_secret_hmac, [old.client_secret_hmac for old in previous]
        ),
        cache=cache,
        revoked=revoked,
        copies=copies,
        bus=bus,
        guard=AttemptGuard(
            limiter,
            per_subject=Limit(settings.auth_failure_limit, window),
            per_address=Limit(settings.auth_failure_ip_limit, window),
        ),
        trusted_proxies=parse_networks(settings.trusted_proxy_list()),
        redis=redis,
        watch=watch,
        client_trust=trust,
        verified_tokens=VerifiedTokens(wall=lambda: now().timestamp()),
    )
    runtime_box.append(runtime)
    if redis is None:
        await copies.refresh(trust=may_cache)
    await runtime.start()
    return runtime
