"""The webhook events an audited client change raises, and what a webhook URL may be."""

from __future__ import annotations

import pytest

from keyloft.domain.errors import ValidationFailed
from keyloft.domain.webhooks import EVENT_TYPES, check_events, check_url, client_events
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
    assert check_url("https://93.184.216.34/in", allow_http=False) == "https://93.184.216.34/in"
    assert check_url("https://hooks.example.com/x", allow_http=False)
