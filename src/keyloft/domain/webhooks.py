"""Webhooks: the event types an org may subscribe to, what a subscription must look like, the
events a client change raises, and the retry schedule of a delivery (Standard Webhooks)."""

from __future__ import annotations

import base64
import ipaddress
import random
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from keyloft.domain.clients import Client
from keyloft.domain.errors import ValidationFailed

CLIENT_CREATED = "client.created"
CLIENT_UPDATED = "client.updated"
CLIENT_DELETED = "client.deleted"
SECRET_ROTATED = "client.secret.rotated"  # noqa: S105 - an event name
SECRET_EXPIRING = "client.secret.expiring"  # noqa: S105 - an event name
CREDENTIAL_ADDED = "client.credential.added"
CREDENTIAL_REMOVED = "client.credential.removed"
MINT_LIMIT_REACHED = "client.mint_limit.reached"

EVENT_TYPES: tuple[str, ...] = (
    CLIENT_CREATED,
    CLIENT_UPDATED,
    CLIENT_DELETED,
    SECRET_ROTATED,
    SECRET_EXPIRING,
    CREDENTIAL_ADDED,
    CREDENTIAL_REMOVED,
    MINT_LIMIT_REACHED,
)

MAX_URL = 2000
MAX_DESCRIPTION = 500
MAX_WEBHOOKS_PER_ORG = 20
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix

_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = "(?![Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt](?![A-Za-z]))[A-Za-z]{2,63}"
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PCHAR = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
URL_PATTERN = (
    f"^https://(?:{_LABEL}[.])+{_TOP_LABEL}(?::{_PORT})?"
    f"(?:/(?:{_PCHAR}|/)*)?(?:[?](?:{_PCHAR}|[/?])*)?$"
)
"""The webhook URLs accepted under the default settings (JSON Schema / ECMA 262, and Python
``re.search``): https, a DNS name of labels ending in an alphabetic top-level label other than
``localhost``, an optional port (1 to 65535), a path and a query; no credentials, no fragment,
no address literal. ``KEYLOFT_WEBHOOKS_ALLOW_HTTP`` lifts it (``check_url``)."""

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)
GIVE_UP_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Webhook:
    """An org's subscription: where to send which events. The signing secret is not here:
    the store keeps it sealed, and it is shown once, when the webhook is created."""

    id: int
    org_id: int
    url: str
    events: tuple[str, ...]
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one webhook, and how its attempts went so far."""

    id: int
    webhook_id: int
    message_id: str
    event_type: str
    payload: Mapping[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a client, as its subscribers are told."""

    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExpiringSecret:
    """A valid client whose current secret stops working at ``expires_at``."""

    org_id: int
    client_id: int
    client_key: str
    name: str
    expires_at: datetime


EXPIRY_WARNINGS = (timedelta(days=1), timedelta(days=14))
"""How far ahead ``client.secret.expiring`` is raised, nearest first."""

MINT_LIMIT_QUIET = timedelta(hours=1)
"""``client.mint_limit.reached`` is raised when a client goes beyond its limit after at least
this long within it (not once a minute while it keeps trying)."""


def new_signing_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_message_id() -> str:
    """The ``webhook-id`` of a message: the same on every attempt, so receivers can dedupe."""
    return "msg_" + uuid.uuid4().hex


def payload(event: Event, at: datetime) -> dict[str, Any]:
    """The body every subscriber receives: ``type``, ``timestamp`` (RFC 3339, UTC) and ``data``."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event.type, "timestamp": stamp, "data": dict(event.data)}


def check_url(url: str, *, allow_http: bool) -> str:
    """``url`` if it may be a webhook: https (http only with ``allow_http``), a host, no
    credentials, no fragment; unless ``allow_http``, a URL ``URL_PATTERN`` matches (so no
    loopback, private or other address literal, no ``localhost``). The name is not resolved
    here: the sender checks every address the host resolves to, at each attempt."""
    if len(url) > MAX_URL:
        raise ValidationFailed(f"url must be at most {MAX_URL} characters.", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("url is not a valid URL.", field="url") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise ValidationFailed("url must be an https URL.", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("url must not carry credentials.", field="url")
    host = (parts.hostname or "").rstrip(".")
    if not host or port == 0:
        raise ValidationFailed("url must name a host.", field="url")
    if parts.fragment:
        raise ValidationFailed("url must not have a fragment.", field="url")
    if allow_http:
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationFailed("url must not name a local address.", field="url")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and not address.is_global:
        raise ValidationFailed("url must not name a private or local address.", field="url")
    if re.search(URL_PATTERN, url) is None or "\n" in url:
        raise ValidationFailed(
            "url must be https://, a DNS name (no address literal), an optional port, a path "
            "and a query of URL characters.",
            field="url",
        )
    return url


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    if not events:
        raise ValidationFailed("events must name at least one event type.", field="events")
    unknown = [name for name in events if name not in EVENT_TYPES]
    if unknown:
        raise ValidationFailed(
            f"Unknown event type {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}.",
            field="events",
        )
    return tuple(dict.fromkeys(events))


def check_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            f"description must be at most {MAX_DESCRIPTION} characters.", field="description"
        )
    return description


def retry_at(first_created: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts: 30 s doubling each time, with up
    to 20 % jitter, at most 2 h apart; None once 24 h have passed since the message was made
    (the delivery then fails for good)."""
    wait = min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)
    wait += wait * random.uniform(0, 0.2)  # noqa: S311 - spreading retries, not a secret
    at = now + wait
    return at if at - first_created <= GIVE_UP_AFTER else None


def _client_data(client: Client) -> dict[str, Any]:
    return {
        "orgId": client.org_id,
        "clientId": client.id,
        "clientKey": client.client_key,
        "name": client.name,
        "isValid": client.is_valid,
    }


def _credentials(changes: Mapping[str, list[Any]], name: str) -> tuple[set[str], set[str]]:
    before, after = changes.get(name, [None, None])
    names: list[set[str]] = []
    for side in (before, after):
        items = side or []
        if name == "federatedCredentials":
            names.append({f"federated:{item['name']}" for item in items if "name" in item})
        else:
            names.append({f"key:{item}" for item in items})
    return names[0], names[1]


def client_events(action: str, client: Client, changes: Mapping[str, list[Any]]) -> list[Event]:
    """The events an audited client change raises (none for changes no event names). The
    data names the client and, for credentials, the credential: never a secret."""
    data = _client_data(client)
    if action == "client.create":
        return [Event(CLIENT_CREATED, data)]
    if action == "client.delete":
        return [Event(CLIENT_DELETED, data)]
    if action == "client.secret.rotate":
        return [Event(SECRET_ROTATED, data)]
    if action != "client.update":
        return []
    changed = sorted(name for name in changes if name != "secret")
    events = [Event(CLIENT_UPDATED, data | {"changed": changed})]
    for field_name in ("jwks", "federatedCredentials"):
        before, after = _credentials(changes, field_name)
        added, removed = sorted(after - before), sorted(before - after)
        events += [Event(CREDENTIAL_ADDED, data | {"credential": c}) for c in added]
        events += [Event(CREDENTIAL_REMOVED, data | {"credential": c}) for c in removed]
    return events


def expiry_event(secret: ExpiringSecret, now: datetime) -> tuple[Event, str] | None:
    """The ``client.secret.expiring`` event due for ``secret`` at ``now`` (the nearest warning
    it is within), and the key that makes it one per secret and warning; None when none is."""
    left = secret.expires_at - now
    if left <= timedelta(0):
        return None
    ahead = next((warning for warning in EXPIRY_WARNINGS if left <= warning), None)
    if ahead is None:
        return None
    data = {
        "orgId": secret.org_id,
        "clientId": secret.client_id,
        "clientKey": secret.client_key,
        "name": secret.name,
        "isValid": True,
        "expiresAt": payload(Event("", {}), secret.expires_at)["timestamp"],
        "daysAhead": ahead.days,
    }
    stamp = int(secret.expires_at.timestamp())
    return Event(SECRET_EXPIRING, data), f"expiring:{secret.client_id}:{stamp}:{ahead.days}"


def mint_limit_event(client: Client, previous_hit: datetime | None, hit: datetime) -> Event | None:
    """``client.mint_limit.reached`` for a client that went beyond its limit at ``hit``, unless
    it already had within the hour before."""
    if previous_hit is not None and hit - previous_hit < MINT_LIMIT_QUIET:
        return None
    stamp = payload(Event("", {}), hit)["timestamp"]
    return Event(MINT_LIMIT_REACHED, _client_data(client) | {"at": stamp})
