"""Which addresses outbound fetches may connect to: public unicast only, unless private
networks are allowed."""

from __future__ import annotations

import ipaddress

import pytest

from keyloft.outbound import address_allowed, is_public

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above it
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped, judged by its IPv4 address
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
]

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "100.127.255.255",
    "0.0.0.0",  # noqa: S104 (an address judged, not one bound to)
    "0.1.2.3",
    "192.0.0.8",
    "192.0.2.1",  # documentation
    "198.51.100.7",
    "203.0.113.7",
    "198.18.0.1",  # benchmarking
    "192.88.99.1",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "::",
    "::1",
    "fc00::1",  # unique local
    "fd12:3456::1",
    "fe80::1",  # link-local
    "fe80::1%eth0",
    "fec0::1",  # site-local
    "ff02::1",  # multicast
    "2001:db8::1",  # documentation
    "3fff::1",
    "2001::1",  # Teredo
    "100::1",  # discard
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert is_public(ip)
    assert address_allowed(ip)


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not is_public(ip)
    assert not address_allowed(ip)


@pytest.mark.parametrize("address", REFUSED + PUBLIC)
def test_allow_private_lets_everything_through(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=True)
