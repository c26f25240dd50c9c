"""``keyloft keys rotate|list|retire`` against a fresh SQLite database."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import Result

from tests.support.cli import Invoke, as_json, rows


def _fails(result: Result, phrase: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert phrase in result.stderr, result.stderr


def listed(keyloft: Invoke) -> dict[str, dict[str, object]]:
    return {row["kid"]: row for row in as_json(keyloft("keys", "list", "--json"))}


def test_init_leaves_one_active_published_key(initialised: Invoke) -> None:
    (key,) = listed(initialised).values()
    assert (key["state"], key["published"], key["retired"]) == ("active", True, None)
    assert key["activates"] == key["created"]


def test_rotate_publishes_a_pending_key_after_the_default_delay(
    initialised: Invoke, workdir: Path
) -> None:
    result = initialised("keys", "rotate", "--json")
    data = as_json(result)
    assert data["publishDelaySeconds"] == 600
    created = datetime.fromisoformat(data["created"])
    assert datetime.fromisoformat(data["activates"]) - created == timedelta(seconds=600)
    assert "warning" not in result.stderr
    keys = listed(initialised)
    assert keys[data["kid"]]["state"] == "pending"
    assert keys[data["kid"]]["published"] is True
    assert sorted(state["state"] for state in keys.values()) == ["active", "pending"]
    stored = rows(
        workdir / "keyloft.db", "SELECT activates_at FROM signing_keys WHERE kid = ?", data["kid"]
    )
    assert stored[0][0] is not None


def test_rotate_delay_from_the_setting_and_the_option(
    initialised: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYLOFT_KEY_PUBLISH_DELAY_SECONDS", "900")
    assert as_json(initialised("keys", "rotate", "--json"))["publishDelaySeconds"] == 900
    quick = initialised("keys", "rotate", "--publish-delay", "0", "--json")
    assert as_json(quick)["publishDelaySeconds"] == 0
    assert "warning: a publish delay under 360 s" in quick.stderr
    states = {kid: row["state"] for kid, row in listed(initialised).items()}
    assert states[as_json(quick)["kid"]] == "active"
    assert sorted(states.values()) == ["active", "pending", "superseded"]
    negative = initialised("keys", "rotate", "--publish-delay", "-1")
    assert negative.exit_code == 2
    assert "--publish-delay" in negative.output
    assert len(listed(initialised)) == 3


def test_retire_stops_a_key_and_keeps_it_published(initialised: Invoke) -> None:
    (first,) = listed(initialised)
    new = as_json(initialised("keys", "rotate", "--publish-delay", "0", "--json"))["kid"]
    data = as_json(initialised("keys", "retire", new, "--json"))
    assert (data["kid"], data["state"], data["published"]) == (new, "retired", True)
    assert data["retired"] is not None
    assert data["publishedUntil"] is not None
    keys = listed(initialised)
    assert keys[first]["state"] == "active"
    assert keys[new]["state"] == "retired"
    _fails(initialised("keys", "retire", first), "would leave no key able to sign now")


def test_retire_refusals(initialised: Invoke) -> None:
    (first,) = listed(initialised)
    _fails(initialised("keys", "retire", first), "would leave no key able to sign now")
    _fails(initialised("keys", "retire", "no-such-kid"), "No signing key with kid no-such-kid")
    assert listed(initialised)[first]["state"] == "active"


def test_list_text_output(initialised: Invoke) -> None:
    (first,) = listed(initialised)
    initialised("keys", "rotate")
    result = initialised("keys", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(first)
    assert "active" in lines[0]
    assert "published" in lines[0]
    assert "pending" in lines[1]


def test_keys_need_an_initialised_database(keyloft: Invoke) -> None:
    _fails(keyloft("keys", "list"), "keyloft init")
