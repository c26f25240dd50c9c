"""The manifest's JSON Schema: the copies shipped in the package and in docs/ are exactly what
the model generates (regenerate with ``keyloft schema -o ...``), it is strict where the model
is, and it accepts and refuses what ``keyloft apply`` does."""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from keyloft.manifest.schema import SCHEMA_FILE, manifest_schema, schema_text, shipped_schema
from keyloft.manifest.source import ManifestFileInvalid, parse_manifest

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = (
    "regenerate both copies: keyloft schema -o src/keyloft/manifest/"
    f"{SCHEMA_FILE} && cp src/keyloft/manifest/{SCHEMA_FILE} docs/"
)
EXAMPLE = """\
version: 1
orgs:
  - name: Acme
    maxClients: 30
    scopeEntities:
      - {name: Coupons, pattern: '.*/coupons.*'}
    tills:
      - {code: acme.till.1, name: Acme Till 1}
    clients:
      - name: orders-sync
        description: Nightly order export
        expirationTokenTime: 600
        defaultTill: acme.till.1
        scopes:
          - {entity: TargetGroups, permission: READWRITE, resources: ['.*v3/targetGroups.*']}
      - name: ci-deploy
        expirationTokenTime: 300
        defaultTill: acme.till.1
        scopes: [{entity: All, permission: READ}]
        tokenEndpointAuthMethod: private_key_jwt
        federatedCredentials:
          - name: main
            issuer: https://token.actions.githubusercontent.com
            subject: repo:acme/app:ref:refs/heads/main
            claims: {repository: acme/app}
"""


def test_the_package_ships_the_model_s_schema() -> None:
    assert shipped_schema() == schema_text(), REGENERATE


def test_docs_hold_the_same_schema() -> None:
    assert (ROOT / "docs" / SCHEMA_FILE).read_text(encoding="utf-8") == schema_text(), REGENERATE


def test_the_schema_file_is_package_data() -> None:
    """A wheel carries it: a pattern of the package data matches it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["keyloft"]
    assert any(fnmatch.fnmatch(f"manifest/{SCHEMA_FILE}", pattern) for pattern in patterns)


def _objects(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("Manifest", schema), *schema["$defs"].items()]


def test_every_object_refuses_unknown_keys_and_says_what_it_is() -> None:
    schema = manifest_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Keyloft manifest"
    for name, definition in _objects(schema):
        assert definition["additionalProperties"] is False, name
        assert definition["description"], name


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(manifest_schema())


def test_an_example_valid_for_apply_is_valid_for_editors() -> None:
    parse_manifest(EXAMPLE, "example.yaml")  # what apply reads
    jsonschema.validate(yaml.safe_load(EXAMPLE), manifest_schema())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("expirationTokenTime: 600", "expirationTokenTime: '600'"),
        ("permission: READ}", "permission: read}"),
        (
            "defaultTill: acme.till.1\n        scopes: [",
            "defaultTill: acme.till.1\n        colour: red\n        scopes: [",
        ),
        ("version: 1", "version: 2"),
        ("tokenEndpointAuthMethod: private_key_jwt", "tokenEndpointAuthMethod: none"),
    ],
    ids=["type", "enum", "unknown key", "version", "auth method"],
)
def test_what_apply_refuses_editors_refuse(old: str, new: str) -> None:
    text = EXAMPLE.replace(old, new)
    assert text != EXAMPLE
    with pytest.raises(ManifestFileInvalid):
        parse_manifest(text, "example.yaml")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(text), manifest_schema())


def test_the_schema_is_json_with_a_final_newline() -> None:
    text = schema_text()
    assert text.endswith("}\n")
    assert json.loads(text) == manifest_schema()


def test_the_documented_example_is_a_valid_manifest() -> None:
    """docs/config-as-code.md's example reads as a manifest and validates against the schema
    (its keys are placeholders, which only apply's key checks would refuse)."""
    page = (ROOT / "docs" / "config-as-code.md").read_text(encoding="utf-8")
    example = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = parse_manifest(example, "config-as-code.md")
    assert [client.name for client in loaded.manifest.orgs[0].clients] == [
        "orders-sync",
        "ci-deploy",
        "warehouse",
    ]
    jsonschema.validate(yaml.safe_load(example), manifest_schema())
