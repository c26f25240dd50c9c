"""Store failures in Keyloft's terms, so no layer above storage knows its drivers.

What SQLAlchemy, asyncpg or the operating system raise while a unit of work runs becomes
``StoreUnavailable`` (the database cannot be reached right now, or stayed locked) or
``StoreConflict`` (a constraint refused a concurrent change). Anything else, a bug such as
a malformed statement, passes unchanged.
"""

from __future__ import annotations

from types import TracebackType

from asyncpg import PostgresConnectionError  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from keyloft.domain.errors import StoreConflict, StoreFailure, StoreUnavailable

# "The database is not there right now" rather than "the statement is wrong".
UNREACHABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    PoolTimeout,
    PostgresConnectionError,
    OSError,  # includes ConnectionError and TimeoutError from the drivers
)

# For a probe, any driver error at all means "not ready".
PROBE_FAILURES: tuple[type[Exception], ...] = (*UNREACHABLE, DBAPIError)


def store_failure(exc: BaseException) -> StoreFailure | None:
    """The store failure ``exc`` means, or None when it is not one."""
    if isinstance(exc, IntegrityError):
        return StoreConflict()
    if isinstance(exc, UNREACHABLE):
        return StoreUnavailable()
    # A driver error of no more specific class reports a connection lost mid-statement.
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc.orig, UNREACHABLE)
    ):
        return StoreUnavailable()
    return None


class _Translated:
    """``with translated:`` re-raises store failures as ``StoreFailure``s, chained to the
    driver's exception; a class rather than a generator, as it wraps every request."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(exc, Exception):
            return
        failure = store_failure(exc)
        if failure is not None:
            raise failure from exc


translated = _Translated()
