"""The manifest's JSON Schema, generated from the model: what editors validate a file with
(the YAML language server reads a ``# yaml-language-server: $schema=...`` line). The package
ships it as ``keyloft-manifest.schema.json`` beside this module, and ``docs/`` holds a copy;
``keyloft schema`` prints it, and a test fails when either copy differs from the model."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from keyloft.manifest.model import Manifest

SCHEMA_FILE = "keyloft-manifest.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _KeysAsTitles(GenerateJsonSchema):
    """No generated title per field ("Expirationtokentime"): editors show the key itself."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of a manifest (draft 2020-12)."""
    generated = Manifest.model_json_schema(schema_generator=_KeysAsTitles)
    return {
        "$schema": DIALECT,
        "title": "Keyloft manifest",
        **{key: value for key, value in generated.items() if key != "title"},
    }


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema() -> str:
    """The schema file shipped in the package."""
    return resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
