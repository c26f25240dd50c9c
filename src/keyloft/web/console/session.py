"""Console sessions: a stateless cookie signed with a key derived from the server secret, and
the list of sessions ended by signing out.

The cookie carries the principal (id and login), its org, when the session began, when it was
last used, a random nonce and a fingerprint of the principal's password hash; an HMAC-SHA256
over all of it makes it tamper-proof. A session ends at the first of: the absolute lifetime
since sign-in, the idle lifetime since the last request, a password change (the fingerprint no
longer matches), or signing out.

Signing out records the session's nonce as ended until the session could have expired anyway.
With Redis configured that record is shared by every node (a key with a time to live); without
Redis the record lives in the process, which is exact for the single process such a
deployment runs. Where several workers serve without Redis, sign-in is refused, since no
process could learn of another's sign-outs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("keyloft.console")

COOKIE = "keyloft_console"
PRE_COOKIE = "keyloft_console_signin"
REDIS_PREFIX = "keyloft:console:ended:"
_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Session:
    principal_id: int
    login: str
    org_id: int
    issued_at: int
    seen_at: int
    nonce: str
    fingerprint: str


class SessionUnavailable(Exception):
    """Whether a session was ended cannot be told right now (the shared store is away)."""


def fingerprint(key: bytes, password_hash: str) -> str:
    """Ties a session to the password it was opened with, without carrying the hash."""
    mac = hmac.new(key, b"password|" + password_hash.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Issues and checks session cookies; ``clock`` returns epoch seconds."""

    def __init__(
        self,
        key: bytes,
        *,
        absolute_seconds: int,
        idle_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.absolute_seconds = absolute_seconds
        self.idle_seconds = idle_seconds
        self._clock = clock

    def now(self) -> int:
        return int(self._clock())

    def fingerprint(self, password_hash: str) -> str:
        return fingerprint(self._key, password_hash)

    def new(self, principal_id: int, login: str, org_id: int, password_print: str) -> Session:
        """A session for the principal; ``password_print`` is ``fingerprint`` of its hash."""
        now = self.now()
        return Session(
            principal_id=principal_id,
            login=login,
            org_id=org_id,
            issued_at=now,
            seen_at=now,
            nonce=secrets.token_urlsafe(18),
            fingerprint=password_print,
        )

    def touched(self, session: Session) -> Session:
        return replace(session, seen_at=self.now())

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def encode(self, session: Session) -> str:
        body = [
            session.principal_id,
            session.login,
            session.org_id,
            session.issued_at,
            session.seen_at,
            session.nonce,
            session.fingerprint,
        ]
        payload = f"{_VERSION}.{_b64(json.dumps(body, separators=(',', ':')).encode())}"
        return f"{payload}.{self._mac(payload)}"

    def decode(self, cookie: str | None) -> Session | None:
        """The session if the cookie is genuine and neither idle nor too old; else None."""
        if not cookie or len(cookie) > 2048:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not payload.startswith(f"{_VERSION}.") or not hmac.compare_digest(
            mac.encode(), self._mac(payload).encode()
        ):
            return None
        try:
            fields = json.loads(_unb64(payload.split(".", 1)[1]))
            session = Session(*fields)
        except (ValueError, TypeError, binascii.Error):
            return None
        now = self.now()
        if not self.issued_at_ok(session, now) or now - session.seen_at > self.idle_seconds:
            return None
        return session

    def issued_at_ok(self, session: Session, now: int) -> bool:
        return session.issued_at <= now + 60 and now - session.issued_at <= self.absolute_seconds

    def remaining(self, session: Session) -> int:
        """Seconds until the session would end of its absolute lifetime."""
        return max(1, session.issued_at + self.absolute_seconds - self.now())

    def token(self, purpose: str, nonce: str) -> str:
        """A value bound to ``nonce`` that only this server can compute (CSRF tokens)."""
        mac = hmac.new(self._key, f"{purpose}|{nonce}".encode(), hashlib.sha256)
        return _b64(mac.digest())


class EndedSessions:
    """Nonces of sessions ended by signing out, shared through Redis when there is one."""

    def __init__(self, redis: Redis | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._clock = clock
        self._local: dict[str, float] = {}

    async def end(self, nonce: str, seconds: int) -> None:
        if self._redis is not None:
            try:
                await self._redis.set(REDIS_PREFIX + nonce, b"1", ex=seconds)
            except (RedisError, OSError) as exc:
                log.warning("console sign-out not shared (%s)", type(exc).__name__)
                raise SessionUnavailable() from exc
            return
        now = self._clock()
        self._local = {n: until for n, until in self._local.items() if until > now}
        self._local[nonce] = now + seconds

    async def ended(self, nonce: str) -> bool:
        """True if signed out; SessionUnavailable when Redis cannot answer (fail closed)."""
        if self._redis is not None:
            try:
                return bool(await self._redis.exists(REDIS_PREFIX + nonce))
            except (RedisError, OSError) as exc:
                log.warning("console session check failed (%s)", type(exc).__name__)
                raise SessionUnavailable() from exc
        until = self._local.get(nonce)
        return until is not None and until > self._clock()
