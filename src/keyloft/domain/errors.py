"""Domain errors: each carries the stable numeric code the API reports (see docs/errors.md)."""

from __future__ import annotations


class KeyloftError(Exception):
    """Base of every expected failure. ``code`` is stable and documented."""

    code: int = 1000
    default_message: str = "Request failed."
    reason: str | None = None
    """Why, in one word, for the log and the metrics only (never told to the caller)."""

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)


class ValidationFailed(KeyloftError):
    """Input broke a rule; ``field`` names the offending field (dotted path)."""

    code = 1001
    default_message = "Invalid request."


class Unauthenticated(KeyloftError):
    code = 3001
    default_message = "Authentication required: valid credentials are missing."


class InvalidClientCredentials(KeyloftError):
    """Unknown key, wrong secret and deleted client all look exactly alike."""

    code = 3002
    default_message = "Invalid client key or secret."
    counted_as: tuple[int, int] | None = None
    """The org and id of the existing client whose credentials failed, for its usage counts
    only (never told to the caller)."""


class AssertionRefused(InvalidClientCredentials):
    """A client assertion (RFC 7523) that does not prove its client. ``reason`` is for the
    log and the metrics only: the caller is told exactly what a wrong secret tells it."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason: str | None = reason


class InvalidToken(KeyloftError):
    code = 3003
    default_message = "The access token is invalid, expired or revoked."

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        dpop: bool = False,
        dpop_error: str = "invalid_token",
        nonce: str | None = None,
    ) -> None:
        """``dpop``: the token came, or had to come, with a DPoP proof (RFC 9449 §7.1), so
        the challenge is ``DPoP`` with ``dpop_error``; ``nonce``: the one the next proof must
        carry."""
        super().__init__(message)
        self.reason = reason
        self.dpop = dpop
        self.dpop_error = dpop_error
        self.nonce = nonce


class AccessDenied(KeyloftError):
    code = 4000
    default_message = "Not authorized. Access is denied!"


class ClientNotFound(KeyloftError):
    code = 4041
    default_message = "No API client with this key exists in your org."


class NameTaken(KeyloftError):
    code = 4091
    default_message = "An active API client with this name already exists in the org."


class ClientLimitReached(KeyloftError):
    code = 4092
    default_message = "The org has reached its limit of active API clients."


class ClientDeleted(KeyloftError):
    code = 4093
    default_message = "This API client is deleted and can no longer be changed."


class StateForbids(ValidationFailed):
    """A well-formed request the stored state does not allow: a Till or scope entity the org
    does not have, a token lifetime beyond its cap, a credential rule the client's kept
    fields break, a method the deployment is not set up for. ``field`` names the value.
    A kind of ``ValidationFailed`` (whoever reports a bad value reports this one alike), but
    answered 409, not 400: the request was well formed."""

    code = 4094
    default_message = "The org does not allow this value."


class VersionMismatch(KeyloftError):
    code = 4121
    default_message = "The client changed since you read it (If-Match does not match)."


class NotFound(KeyloftError):
    """A non-client object named by an operator command (org, Till, scope)."""

    code = 4040
    default_message = "Not found."


class Conflict(KeyloftError):
    code = 4090
    default_message = "Conflict with the stored state."


class TooManyAttempts(KeyloftError):
    """Too many failed authentications for this key, login or address: wait and retry."""

    code = 4290
    default_message = "Too many failed attempts; retry later."

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts; retry after {retry_after} seconds.")
        self.retry_after = retry_after


class MintLimitReached(TooManyAttempts):
    """The client minted as many tokens this minute as its ``tokenRateLimit`` allows."""

    reason = "mint_limit"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        self.message = (
            f"This client reached its limit of tokens a minute; retry after {retry_after} seconds."
        )
        self.args = (self.message,)


class StoreFailure(Exception):
    """The store failed a unit of work; nothing in it was applied and the request may be
    retried. Deliberately not a ``KeyloftError``: code that turns a request's own errors into
    answers (a form's messages, a command's complaint) lets these through to the outage
    handling. ``keyloft.storage`` raises them in place of its drivers' exceptions."""

    code: int = 5000
    default_message: str = "The store failed; retry shortly."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class StoreUnavailable(StoreFailure):
    """The database cannot be reached right now (or stayed locked): retry after
    ``retry_after`` seconds."""

    code = 5030
    default_message = "The store is unavailable; retry shortly."
    default_retry_after = 1

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = self.default_retry_after if retry_after is None else retry_after


class StoreConflict(StoreFailure):
    """A constraint refused the change; with the org lock only a concurrent change gets that
    far, so a retry normally succeeds."""

    code = Conflict.code
    default_message = "The change conflicts with a concurrent change; retry."
