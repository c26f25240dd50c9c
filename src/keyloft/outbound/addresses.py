"""Which resolved addresses Keyloft may connect to when it fetches from servers its users name.

Only public unicast addresses: a URL a user supplies must not reach the deployment's own
loopback, its private networks, link-local services such as a cloud's metadata endpoint
(169.254.169.254), carrier-grade NAT, or any other special-purpose block. An IPv6 address
that carries an IPv4 one (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged
by that IPv4 address too, since that is where the packets end up.

The blocks are listed here rather than left to ``ipaddress.is_global`` alone, whose tables
differ between Python versions; an address must pass both.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(block)
    for block in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)

_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(block)
    for block in (
        "::/8",  # unspecified, loopback, IPv4-compatible, reserved
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo
        "2001:2::/48",  # benchmarking
        "2001:10::/28",  # ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _public_v4(address: ipaddress.IPv4Address) -> bool:
    return (
        address.is_global
        and not (address.is_multicast or address.is_reserved or address.is_unspecified)
        and not any(address in block for block in _REFUSED_V4)
    )


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (and so is any IPv4 one it carries)."""
    if isinstance(address, ipaddress.IPv4Address):
        return _public_v4(address)
    if address.ipv4_mapped is not None:
        return _public_v4(address.ipv4_mapped)
    # Judge without any zone (fe80::1%eth0): the zone names an interface, not an address.
    bare = ipaddress.IPv6Address(int(address))
    if bare in _NAT64:
        # What a DNS64 resolver hands out on an IPv6-only network for an IPv4-only host.
        return _public_v4(ipaddress.IPv4Address(int(bare) & 0xFFFFFFFF))
    if bare.sixtofour is not None and not _public_v4(bare.sixtofour):
        return False
    return (
        bare.is_global
        and not (bare.is_multicast or bare.is_reserved or bare.is_unspecified)
        and not any(bare in block for block in _REFUSED_V6)
    )


def address_allowed(address: IPAddress, *, allow_private: bool = False) -> bool:
    """Whether Keyloft may connect to ``address``; ``allow_private`` (development and tests
    only) lets everything through, loopback and private networks included."""
    return allow_private or is_public(address)
