"""The webhook events an audited client change raises, and what a webhook URL may be."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.webhooks import (
    EVENT_TYPES,
    MAX_URL,
    URL_PATTERN,
    check_events,
    check_url,
    client_events,
)
from tests.unit.test_registration_rules import _client


def test_create_delete_and_rotation_raise_one_event_each() -> None:
    client = _client()
    for action, expected in (
        ("client.create", "client.created"),
        ("client.delete", "client.deleted"),
        ("client.secret.rotate", "client.secret.rotated"),
    ):
        [event] = client_events(action, client, {})
        assert event.type == expected
        assert event.data["clientKey"] == client.client_key
    assert client_events("client.secret.end_grace", client, {}) == []


def test_an_update_names_the_changed_fields_and_each_credential_added_or_removed() -> None:
    changes = {
        "name": ["a", "b"],
        "secret": [None, "issued"],
        "jwks": [["t1", "t2"], ["t2", "t3"]],
        "federatedCredentials": [None, [{"name": "ci", "issuer": "https://x"}]],
    }
    events = client_events("client.update", _client(), changes)
    assert [(e.type, e.data.get("credential")) for e in events] == [
        ("client.updated", None),
        ("client.credential.added", "key:t3"),
        ("client.credential.removed", "key:t1"),
        ("client.credential.added", "federated:ci"),
    ]
    assert events[0].data["changed"] == ["federatedCredentials", "jwks", "name"]


def test_event_types_are_checked() -> None:
    assert check_events(["client.created", "client.created"]) == ("client.created",)
    assert set(EVENT_TYPES) >= {"client.secret.expiring", "client.mint_limit.reached"}
    with pytest.raises(ValidationFailed):
        check_events(["client.nope"])


@pytest.mark.parametrize(
    "url",
    ["https://10.0.0.1/", "https://[fd00::1]/", "https://192.168.1.1/", "http://example.com/"],
)
def test_private_or_plain_urls_need_the_development_switch(url: str) -> None:
    with pytest.raises(ValidationFailed):
        check_url(url, allow_http=False)
    assert check_url(url, allow_http=True) == url


def test_a_public_https_url_is_fine() -> None:
    assert check_url("https://hooks.example.com/x", allow_http=False)
    assert check_url("https://hooks.example.com:8443/in/a?b=c&d=%20", allow_http=False)


def test_an_address_literal_even_a_public_one_needs_the_development_switch() -> None:
    # The schema's pattern admits DNS names only; the check refuses what it does not admit.
    for url in ("https://93.184.216.34/in", "https://[2606:2800:220:1::]/in"):
        assert not re.search(URL_PATTERN, url)
        with pytest.raises(ValidationFailed) as refused:
            check_url(url, allow_http=False)
        assert refused.value.field == "url"
        assert check_url(url, allow_http=True) == url


@settings(max_examples=500)
@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_every_url_the_schema_pattern_admits_is_accepted(url: str) -> None:
    assert check_url(url, allow_http=False) == url


@given(st.from_regex(URL_PATTERN, fullmatch=True))
def test_a_final_newline_is_refused(url: str) -> None:
    # Python's "$" matches before a final newline; the schema says "no line feed" besides.
    with pytest.raises(ValidationFailed):
        check_url(url + "\n", allow_http=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "https://localhost/",
        "https://a.b.LOCALHOST:443/",
        "https://hooks.example.com:0/",
        "https://hooks.example.com:65536/",
        "https://10.0.0.1/",
        "https:///path",
        "https://example/",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/" + "a" * 2000,
    ],
)
def test_what_the_check_refuses_the_pattern_does_not_admit(url: str) -> None:
    assert not re.search(URL_PATTERN, url) or len(url) > MAX_URL
    with pytest.raises(ValidationFailed) as refused:
        check_url(url, allow_http=False)
    assert refused.value.field == "url"
