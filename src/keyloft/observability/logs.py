"""Log setup: one JSON object per line (or readable text), with the request in progress.

The request context lives in a ContextVar that the outermost middleware sets, so every line
logged while a request is handled — by routes, services, storage or the server itself —
carries its request id (and trace id when tracing is on), without passing it around.

Credentials are never handed to a logger; as a safety net the formatters also mask values
shaped like an Authorization header, a JWT or a stored secret hash.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]
# Libraries whose chatty levels are kept off whatever the configured level: aiosqlite's DEBUG
# lines echo every statement with its parameters, from a thread outside any request.
QUIET_LOGGERS = {"aiosqlite": "WARNING"}


@dataclass(frozen=True, slots=True)
class LogContext:
    request_id: str
    trace_id: str | None = None
    span_id: str | None = None


_context: ContextVar[LogContext | None] = ContextVar("keyloft_log_context", default=None)


def bind(context: LogContext) -> Token[LogContext | None]:
    """Attach ``context`` to every line logged from here on in this task (and its threads)."""
    return _context.set(context)


def unbind(token: Token[LogContext | None]) -> None:
    _context.reset(token)


_MASK = "[redacted]"
_CREDENTIAL_SHAPES = re.compile(
    r"(?i)\b(?:basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header value
    r"|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # a JWT
    r"|kl1\$[a-z0-9-]+\$[0-9a-f]{16,}"  # a stored secret hash
)


def redact(text: str) -> str:
    return _CREDENTIAL_SHAPES.sub(_MASK, text)


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's copy of the message for terminals
)


def _field(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (RFC 3339, UTC), level, logger, message, pid, the
    request context and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        context = _context.get()
        if context is not None:
            line["request_id"] = context.request_id
            if context.trace_id is not None:
                line["trace_id"] = context.trace_id
                line["span_id"] = context.span_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in line:
                line[key] = _field(value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger message`` for people, with ``rid=`` while a request is handled."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context.get()
        if context is not None:
            text += f" rid={context.request_id}"
            if context.trace_id is not None:
                text += f" trace={context.trace_id}"
        return redact(text)


def dict_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the whole process, uvicorn's loggers included (its
    access log stays off: Keyloft's own access line replaces it)."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"keyloft": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "keyloft": {
                "class": "logging.StreamHandler",
                "formatter": "keyloft",
                "stream": "ext://sys.stderr",
            },
            "discard": {"class": "logging.NullHandler"},
        },
        "root": {"level": level.upper(), "handlers": ["keyloft"]},
        "loggers": {
            # Propagate to the root handler rather than keep uvicorn's own.
            "uvicorn": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": ["discard"], "propagate": False},
            **{name: {"level": level} for name, level in QUIET_LOGGERS.items()},
        },
    }


def configure(level: str, fmt: LogFormat) -> dict[str, Any]:
    """Apply :func:`dict_config` to this process and return it (for uvicorn's workers)."""
    config = dict_config(level, fmt)
    logging.config.dictConfig(config)
    return config
