"""Client lists rendered piece by piece are the same bytes as the list rendered whole, and a
remembered piece is never used for a client that changed: a new version, a new last update or
a new last use, or another zone."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from keyloft.domain.orgs import Org
from keyloft.web.envelope import dump, ok_json
from keyloft.web.views import RenderedClients, client_view
from tests.support.client_states import state

ORG = Org(1, "Acme", "Asia/Kolkata", max_clients=50, max_token_ttl=3600)


def test_pieces_make_the_same_bytes_as_the_whole() -> None:
    clients = [replace(state(n).client, name=f"ünïcode {n}") for n in range(4)]
    rendered = RenderedClients()
    for scopes in (False, True):
        whole = dump([client_view(c, ORG, scopes=scopes) for c in clients])
        assert rendered.json_list(clients, ORG, scopes=scopes) == whole
        assert rendered.json_list(clients, ORG, scopes=scopes) == whole  # from the memo
    assert rendered.json_list([], ORG, scopes=False) == b"[]"


def test_a_changed_client_or_zone_is_rendered_again() -> None:
    client = state(1).client
    rendered = RenderedClients(max_entries=2)
    before = json.loads(rendered.json_list([client], ORG, scopes=False))
    used = replace(client, last_used_on=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    after = json.loads(rendered.json_list([used], ORG, scopes=False))
    assert before[0]["lastUsedOn"] is None
    assert after[0]["lastUsedOn"] == "2026-01-02T08:34:00.000+0530"
    elsewhere = json.loads(rendered.json_list([used], replace(ORG, timezone="UTC"), scopes=False))
    assert elsewhere[0]["lastUsedOn"] == "2026-01-02T03:04:00.000+0000"


def test_a_new_version_or_update_time_is_rendered_again() -> None:
    client = state(1).client
    rendered = RenderedClients()
    assert json.loads(rendered.json_list([client], ORG, scopes=False))[0]["name"] == "c1"
    later = client.last_updated_on.replace(
        microsecond=(client.last_updated_on.microsecond + 1) % 10**6
    )
    for changed in (
        replace(client, name="renamed", version=client.version + 1),
        replace(client, name="renamed", last_updated_on=later),
    ):
        assert json.loads(rendered.json_list([changed], ORG, scopes=False))[0]["name"] == "renamed"


def test_an_envelope_from_encoded_data_is_the_usual_envelope() -> None:
    data = dump([{"a": 1}])
    extra = {"page": {"nextCursor": None, "limit": 5}}
    assert ok_json(data, extra=extra).body == dump({"data": [{"a": 1}], "errors": None, **extra})
    assert ok_json(data).body == dump({"data": [{"a": 1}], "errors": None})
