"""Writing a manifest as YAML: keys in the model's order, fields that hold their default left
out (a client without keys has no ``jwks``), strings quoted wherever YAML would read them as
something else; reading the text back gives the same manifest."""

from __future__ import annotations

from typing import Any

import yaml

from keyloft.manifest.model import Manifest

HEADER = (
    "# Keyloft manifest: `keyloft apply -f FILE` makes Keyloft match it.\n"
    "# Editors validate it with the JSON Schema that `keyloft schema` prints.\n"
)


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def render_manifest(manifest: Manifest) -> str:
    data: dict[str, Any] = manifest.model_dump(mode="json", exclude_defaults=True)
    data = {"version": manifest.version, **data}  # the version is never left out
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return HEADER + body
