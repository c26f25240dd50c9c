"""Client governance: the addresses a client's token requests may come from (``ipAllowlist``),
how many tokens it may mint a minute (``tokenRateLimit``) and how long a secret lives
(``secretLifetimeSeconds``, giving ``clientSecretExpiresAt``), with the rules for setting them.

An allow-list holds up to ``MAX_ALLOWLIST`` networks, IPv4 or IPv6, in CIDR form or as a bare
address (one host). A network with host bits set (``10.0.0.1/8``) is refused rather than
silently widened: it is more likely a typing mistake than a wish. Networks are stored in
canonical form (``2001:db8::/32``), duplicates once. An empty list allows any address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyloft.domain.errors import ValidationFailed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ALLOWLIST = 50
MAX_PER_MINUTE = 1_000_000
ALLOWLIST_FIELD = "ipAllowlist"
RATE_LIMIT_FIELD = "tokenRateLimit"
LIFETIME_FIELD = "secretLifetimeSeconds"
MAX_SECRET_LIFETIME = 10 * 366 * 24 * 3600
"""Ten years: the longest a secret may be set to live."""
EXPIRY_WARNING = timedelta(days=14)
"""How long before a secret expires the console warns."""


@dataclass(frozen=True, slots=True)
class Governance:
    """``ip_allowlist``: the networks a token request may come from (empty: any);
    ``tokens_per_minute``: the most tokens the client may mint in a minute (None: no limit)."""

    ip_allowlist: tuple[Network, ...] = ()
    tokens_per_minute: int | None = None

    def allows(self, address: str | None) -> bool:
        """Whether a token request from ``address`` may proceed (an unknown or unreadable
        address is refused when there is a list)."""
        if not self.ip_allowlist:
            return True
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.ip_allowlist)

    @property
    def allowlist_strings(self) -> list[str]:
        return [str(network) for network in self.ip_allowlist]


NO_GOVERNANCE = Governance()


def check_allowlist(values: object) -> tuple[Network, ...]:
    """The networks of an ``ipAllowlist`` as sent (a list of strings), checked and canonical."""
    if not isinstance(values, list):
        raise ValidationFailed(f"{ALLOWLIST_FIELD} must be a list of CIDRs.", field=ALLOWLIST_FIELD)
    if len(values) > MAX_ALLOWLIST:
        raise ValidationFailed(
            f"{ALLOWLIST_FIELD} allows at most {MAX_ALLOWLIST} networks.", field=ALLOWLIST_FIELD
        )
    networks: list[Network] = []
    for index, value in enumerate(values):
        where = f"{ALLOWLIST_FIELD}[{index}]"
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise ValidationFailed(f"{where} must be a CIDR such as 203.0.113.0/24.", field=where)
        try:
            network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError:
            raise ValidationFailed(
                f"{where} is not an IPv4 or IPv6 network in CIDR form with no host bits set "
                "(such as 203.0.113.0/24 or 2001:db8::/32).",
                field=where,
            ) from None
        if network not in networks:
            networks.append(network)
    return tuple(networks)


def check_rate_limit(value: object) -> int | None:
    """``tokenRateLimit`` as sent: ``{"perMinute": N}`` with 1 ≤ N ≤ ``MAX_PER_MINUTE``, or
    None for no limit."""
    if value is None:
        return None
    where = f"{RATE_LIMIT_FIELD}.perMinute"
    per_minute = value.get("perMinute") if isinstance(value, dict) else None
    if isinstance(per_minute, bool) or not isinstance(per_minute, int):
        raise ValidationFailed(f"{where} must be a whole number.", field=where)
    if not 1 <= per_minute <= MAX_PER_MINUTE:
        raise ValidationFailed(f"{where} must be between 1 and {MAX_PER_MINUTE}.", field=where)
    return per_minute


def stored_allowlist(values: list[str] | None) -> tuple[Network, ...]:
    """The networks stored for a client (checked when they were written)."""
    return tuple(ipaddress.ip_network(value) for value in values or ())


def check_secret_lifetime(value: int | None, field: str = LIFETIME_FIELD) -> int | None:
    """A secret lifetime in seconds as sent: 0 for "never expires", else 60 seconds to ten
    years; None when not sent."""
    if value is None or value == 0:
        return value
    if not 60 <= value <= MAX_SECRET_LIFETIME:
        raise ValidationFailed(
            f"{field} must be 0 (never expires) or between 60 and {MAX_SECRET_LIFETIME} seconds.",
            field=field,
        )
    return value


def secret_expiry(now: datetime, asked: int | None, org_default: int | None) -> datetime | None:
    """When a secret issued at ``now`` expires: as ``asked`` (0: never), else after the org's
    default lifetime, else never."""
    lifetime = asked if asked is not None else org_default
    return now + timedelta(seconds=lifetime) if lifetime else None


def secret_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def secret_expires_soon(expires_at: datetime | None, now: datetime) -> bool:
    """Whether the console should warn: it expires within ``EXPIRY_WARNING`` (or has)."""
    return expires_at is not None and expires_at - now <= EXPIRY_WARNING
