"""Keyloft's requests to other servers: JSON documents (a client's JWKS, a federated issuer's
metadata) fetched from URLs its users name, behind a guard that keeps those URLs from reaching
the deployment's own or private networks.
"""

from keyloft.outbound.addresses import IPAddress, address_allowed, is_public
from keyloft.outbound.fetch import FetchPolicy, JsonFetcher, parse_max_age, resolve_host

__all__ = [
    "FetchPolicy",
    "IPAddress",
    "JsonFetcher",
    "address_allowed",
    "is_public",
    "parse_max_age",
    "resolve_host",
]
