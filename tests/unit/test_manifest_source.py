"""Reading a manifest: every problem carries the line and the field it is about, whether YAML
syntax, a repeated key, a key the model does not know, a value of the wrong type or a missing
one; and what ``render_manifest`` writes reads back as the same manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyloft.manifest.model import Manifest
from keyloft.manifest.problems import Locations, dotted, parse_dotted
from keyloft.manifest.render import render_manifest
from keyloft.manifest.source import ManifestFileInvalid, parse_manifest, read_manifest

CLIENT = """\
version: 1
orgs:
  - name: Acme
    clients:
      - name: orders-sync
        expirationTokenTime: 600
        defaultTill: acme.till.1
        scopes:
          - entity: All
            permission: READ
"""


def _problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ManifestFileInvalid) as refused:
        parse_manifest(text, "partners.yaml")
    return [(line, problem.field, problem.message) for line, problem in refused.value.lines()]


def test_a_valid_file_reads_into_the_model() -> None:
    loaded = parse_manifest(CLIENT, "partners.yaml")
    client = loaded.manifest.orgs[0].clients[0]
    assert (client.name, client.expirationTokenTime, client.defaultTill) == (
        "orders-sync",
        600,
        "acme.till.1",
    )
    assert client.tokenEndpointAuthMethod == "client_secret_basic"
    assert loaded.locations.line(("orgs", 0, "clients", 0, "scopes", 0, "permission")) == 10


def test_a_syntax_error_names_its_line() -> None:
    text = CLIENT.replace("        defaultTill: acme.till.1\n", "        defaultTill: [acme\n")
    ((line, field, message),) = _problems(text)
    assert line == 8
    assert field == ""
    assert message.startswith("YAML syntax:")


def test_a_repeated_key_is_refused_on_the_line_of_the_repeat() -> None:
    text = CLIENT.replace(
        "        expirationTokenTime: 600\n",
        "        expirationTokenTime: 600\n        expirationTokenTime: 60\n",
    )
    assert _problems(text) == [
        (
            7,
            "orgs[0].clients[0].expirationTokenTime",
            "duplicate key 'expirationTokenTime' (first on line 6)",
        )
    ]


def test_an_unknown_key_is_refused_with_its_line() -> None:
    text = CLIENT + "        colour: blue\n"
    assert _problems(text) == [(11, "orgs[0].clients[0].colour", "unknown key 'colour'")]


def test_a_value_of_the_wrong_type_names_field_line_and_value() -> None:
    text = CLIENT.replace("expirationTokenTime: 600", "expirationTokenTime: '600'")
    assert _problems(text) == [
        (
            6,
            "orgs[0].clients[0].expirationTokenTime",
            "Input should be a valid integer (got '600')",
        )
    ]


def test_a_missing_field_is_reported_on_its_mapping() -> None:
    text = CLIENT.replace("        defaultTill: acme.till.1\n", "")
    assert _problems(text) == [
        (5, "orgs[0].clients[0].defaultTill", "defaultTill is required"),
    ]


def test_every_problem_of_the_model_is_reported_at_once() -> None:
    text = CLIENT.replace("permission: READ", "permission: read").replace(
        "version: 1", "version: 2"
    )
    assert [(line, field) for line, field, _ in _problems(text)] == [
        (1, "version"),
        (10, "orgs[0].clients[0].scopes[0].permission"),
    ]


def test_a_value_of_several_allowed_types_says_which() -> None:
    text = CLIENT + (
        "        federatedCredentials:\n"
        "          - name: ci\n"
        "            issuer: https://issuer.example\n"
        "            subject: repo:acme/app\n"
        "            claims: {ref: [main]}\n"
    )
    assert _problems(text) == [
        (
            15,
            "orgs[0].clients[0].federatedCredentials[0].claims.ref",
            "Input should be a string, an integer or a boolean (got list)",
        )
    ]


def test_merge_keys_are_refused() -> None:
    text = "version: 1\nbase: &org {name: Acme}\norgs:\n  - <<: *org\n"
    problems = _problems(text)
    assert problems[0][:2] == (4, "orgs[0]")
    assert "merge keys" in problems[0][2]


def test_an_alias_containing_itself_is_refused() -> None:
    text = "version: 1\norgs: &orgs\n  - name: Acme\n    clients: *orgs\n"
    assert _problems(text)[0][:2] == (4, "orgs[0].clients")


def test_an_empty_file_is_refused() -> None:
    assert _problems("# nothing\n") == [(1, "", "the file is empty: it needs version and orgs")]


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestFileInvalid) as refused:
        read_manifest(tmp_path / "missing.yaml")
    assert refused.value.name.endswith("missing.yaml")
    assert "cannot read the file" in refused.value.problems[0].message


def test_what_render_writes_reads_back_the_same() -> None:
    text = CLIENT.replace("name: orders-sync", "name: 'yes'") + (
        "            resources: ['.*v3/targetGroups.*', 'null']\n"
        "        description: '0012'\n"
        "        dpopBoundAccessTokens: true\n"
    )
    manifest = parse_manifest(text, "a.yaml").manifest
    rendered = render_manifest(manifest)
    assert parse_manifest(rendered, "b.yaml").manifest == manifest
    assert "tokenEndpointAuthMethod" not in rendered  # defaults are left out
    assert "dpopBoundAccessTokens: true" in rendered


def test_paths_are_written_and_read_as_dotted_text() -> None:
    path = ("orgs", 0, "clients", 3, "jwks", "keys", 1, "x5t#S256")
    assert dotted(path) == "orgs[0].clients[3].jwks.keys[1].x5t#S256"
    assert parse_dotted("scopes[2].entityId") == ("scopes", 2, "entityId")
    assert parse_dotted("scopes (entityId 3)") == ()


def test_a_missing_path_is_located_at_its_nearest_enclosing_value() -> None:
    locations = Locations({(): 1, ("orgs",): 2, ("orgs", 0): 3})
    assert locations.line(("orgs", 0, "clients", 4, "name")) == 3
    assert locations.line(("version",)) == 1


def test_the_model_has_a_version() -> None:
    assert Manifest.model_fields["version"].is_required()
