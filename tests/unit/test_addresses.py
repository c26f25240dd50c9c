"""Which address counts as the caller's: X-Forwarded-For only behind trusted proxies."""

from __future__ import annotations

import pytest

from keyloft.domain.addresses import client_ip, parse_networks

TRUSTED = parse_networks(["10.0.0.0/8", "127.0.0.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        pytest.param("203.0.113.9", None, TRUSTED, "203.0.113.9", id="no-header"),
        pytest.param("203.0.113.9", "1.2.3.4", TRUSTED, "203.0.113.9", id="untrusted-peer"),
        pytest.param("10.1.1.1", "1.2.3.4", (), "10.1.1.1", id="no-trusted-config"),
        pytest.param("10.1.1.1", "1.2.3.4", TRUSTED, "1.2.3.4", id="trusted-peer"),
        pytest.param(
            "10.1.1.1", "6.6.6.6, 1.2.3.4, 10.2.2.2", TRUSTED, "1.2.3.4", id="spoofed-left-ignored"
        ),
        pytest.param("10.1.1.1", "10.9.9.9, 10.2.2.2", TRUSTED, "10.9.9.9", id="all-trusted"),
        pytest.param("10.1.1.1", "not-an-ip", TRUSTED, "10.1.1.1", id="garbage"),
        pytest.param("127.0.0.1", "2001:db8::1", TRUSTED, "2001:db8::1", id="ipv6"),
    ],
)
def test_client_ip(
    peer: str, forwarded: str | None, trusted: tuple[object, ...], expected: str
) -> None:
    assert client_ip(peer, forwarded, trusted) == expected  # type: ignore[arg-type]
