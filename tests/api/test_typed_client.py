"""A typed Python client generated from Keyloft's OpenAPI document with openapi-python-client
works against a live ``keyloft serve``: the generator accepts the document without a warning,
every operation becomes a module, and the generated code, over real HTTP, creates a client as
the demo admin, reads it back, mints tokens with it and calls the API with them, parsing each
answer into the document's models (docs/typed-client.md shows the same steps to users).

The node and the generated package are built once for the module; the package is imported
from a temporary directory and forgotten again afterwards.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import secrets
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.support.schemathesis_run import live_node

pytestmark = pytest.mark.slow

PACKAGE = "keyloft_typed_client"
TOKEN_TTL = 900  # below the demo org's cap (3600 s)
# The generated modules the tests below call, as api/<tag>/<operation>.
USED = {
    ("integrations", "list_scopes"),
    ("integrations", "create_client"),
    ("integrations", "get_client"),
    ("tokens", "generate_token"),
    ("oauth2", "request_token"),
}


@dataclass(frozen=True)
class DemoNode:
    url: str
    admin: tuple[str, str]
    till_id: int


@dataclass(frozen=True)
class Generated:
    document: dict[str, Any]
    directory: Path

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.{name}")

    def operation(self, tag: str, operation: str) -> ModuleType:
        return self.module(f"api.{tag}.{operation}")

    @property
    def models(self) -> ModuleType:
        return self.module("models")

    @property
    def package(self) -> ModuleType:
        return importlib.import_module(PACKAGE)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    """``keyloft init --demo`` on a SQLite file of its own, then ``keyloft serve`` on a free
    port, ready; stopped on the way out."""
    with live_node(tmp_path_factory.mktemp("typed-client-node")) as served:
        yield DemoNode(served.url, served.admin, served.till_ids[0])


@pytest.fixture(scope="module")
def generated(node: DemoNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """The live node's /openapi.json through ``openapi-python-client generate``, warnings
    refused, and the package importable while the module's tests run."""
    workdir = tmp_path_factory.mktemp("typed-client")
    answer = httpx.get(f"{node.url}/openapi.json", timeout=10)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    path = workdir / "openapi.json"
    path.write_text(json.dumps(document))
    # The generator formats its output with ruff, which it looks for on PATH.
    scripts = sysconfig.get_path("scripts")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(path),
            "--output-path",
            str(workdir / PACKAGE),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        cwd=workdir,
        env={**os.environ, "PATH": scripts + os.pathsep + os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output, output
    sys.path.insert(0, str(workdir))
    importlib.invalidate_caches()
    try:
        yield Generated(document, workdir / PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def snake(operation_id: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def basic(username: str, password: str) -> str:
    """The credentials part of an HTTP Basic Authorization header."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def as_admin(generated: Generated, node: DemoNode) -> Any:
    return generated.package.AuthenticatedClient(
        base_url=node.url,
        token=basic(*node.admin),
        prefix="Basic",
        raise_on_unexpected_status=True,
    )


def create_client(generated: Generated, node: DemoNode, admin: Any) -> Any:
    """A client with read on the org's ``All`` entity (Keyloft's own paths), created through
    listScopes and createClient; returns the parsed ``data`` of the answer."""
    models = generated.models
    listed = generated.operation("integrations", "list_scopes").sync_detailed(client=admin)
    assert listed.status_code == HTTPStatus.OK, listed.content
    assert isinstance(listed.parsed, models.ScopesEnvelope)
    entities = {entity.entity: entity.id for entity in listed.parsed.data}
    assert {"TargetGroups", "All"} <= set(entities)
    body = models.ClientCreate(
        name=f"typed-{secrets.token_hex(4)}",
        description="Made by a generated client",
        expiration_token_time=TOKEN_TTL,
        default_till_id=node.till_id,
        scopes=[
            models.ScopeIn(
                entity_id=entities["All"], permission=models.ScopeInPermission.READ, resources=[]
            )
        ],
    )
    created = generated.operation("integrations", "create_client").sync_detailed(
        client=admin, body=body
    )
    assert created.status_code == HTTPStatus.OK, created.content
    envelope = created.parsed
    assert isinstance(envelope, models.ClientCreatedEnvelope)
    data = envelope.data
    assert isinstance(data, models.ClientCreatedOut)
    # Every field the server answered is one the document names.
    assert envelope.additional_properties == {}
    assert data.additional_properties == {}
    assert data.name == body.name
    assert data.expiration_token_time == TOKEN_TTL
    assert data.default_till_id == node.till_id
    assert data.is_valid is True
    assert data.token_endpoint_auth_method.value == "client_secret_basic"
    assert isinstance(data.client_key, str)
    assert isinstance(data.client_secret, str)
    assert data.client_key
    assert data.client_secret
    return data


def test_the_generator_makes_a_module_of_every_operation(generated: Generated) -> None:
    documented = {
        (operation["tags"][0], snake(operation["operationId"]))
        for methods in generated.document["paths"].values()
        for operation in methods.values()
    }
    made = {
        (module.parent.name, module.stem)
        for module in (generated.directory / "api").glob("*/*.py")
        if module.stem != "__init__"
    }
    assert USED.issubset(documented), sorted(USED - documented)
    assert made == documented, sorted(made ^ documented)


def test_an_admin_creates_and_reads_a_client_and_its_tokens_call_the_api(
    generated: Generated, node: DemoNode
) -> None:
    models = generated.models
    client_class = generated.package.Client
    authenticated = generated.package.AuthenticatedClient
    get_client = generated.operation("integrations", "get_client")
    generate_token = generated.operation("tokens", "generate_token")
    with as_admin(generated, node) as admin:
        created = create_client(generated, node, admin)
        read = get_client.sync_detailed(created.client_key, client=admin)
    assert read.status_code == HTTPStatus.OK, read.content
    assert isinstance(read.parsed, models.ClientDetailEnvelope)
    detail = read.parsed.data
    assert detail.additional_properties == {}  # no secret, nothing undocumented
    assert (detail.client_key, detail.name, detail.id) == (
        created.client_key,
        created.name,
        created.id,
    )
    assert [(s.entity_id, s.permission.value, s.resources) for s in detail.scopes] == [
        (created.scopes[0].entity_id, "READ", [])
    ]

    with client_class(base_url=node.url, raise_on_unexpected_status=True) as anonymous:
        minted = generate_token.sync_detailed(
            client=anonymous,
            body=models.TokenRequest(key=created.client_key, secret=created.client_secret),
        )
        refused = generate_token.sync_detailed(
            client=anonymous,
            body=models.TokenRequest(key=created.client_key, secret=created.client_secret + "x"),
        )
    assert minted.status_code == HTTPStatus.OK, minted.content
    assert isinstance(minted.parsed, models.TokenEnvelope)
    assert minted.parsed.additional_properties == {}
    assert minted.parsed.data.additional_properties == {}
    assert minted.parsed.data.ttl_seconds == TOKEN_TTL
    token = minted.parsed.data.access_token
    assert isinstance(token, str)
    assert token.count(".") == 2
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert isinstance(refused.parsed, models.ErrorEnvelope)
    assert refused.parsed.data is None
    assert refused.parsed.errors
    assert all(isinstance(error.code, int) for error in refused.parsed.errors)

    # The token, as a Bearer token and in Capillary's header, reads what its scopes allow.
    with authenticated(base_url=node.url, token=token, raise_on_unexpected_status=True) as bearer:
        as_bearer = get_client.sync_detailed(created.client_key, client=bearer)
    assert isinstance(as_bearer.parsed, models.ClientDetailEnvelope)
    assert as_bearer.parsed.data.client_key == created.client_key
    with authenticated(
        base_url=node.url,
        token=token,
        prefix="",
        auth_header_name="X-CAP-API-OAUTH-TOKEN",
        raise_on_unexpected_status=True,
    ) as capillary:
        as_capillary = get_client.sync_detailed(created.client_key, client=capillary)
    assert isinstance(as_capillary.parsed, models.ClientDetailEnvelope)
    assert as_capillary.parsed.data.name == created.name


def test_request_token_answer_is_typed(generated: Generated, node: DemoNode) -> None:
    models = generated.models
    with as_admin(generated, node) as admin:
        created = create_client(generated, node, admin)
    with generated.package.AuthenticatedClient(
        base_url=node.url,
        token=basic(created.client_key, created.client_secret),
        prefix="Basic",
        raise_on_unexpected_status=True,
    ) as oauth:
        answer = generated.operation("oauth2", "request_token").sync_detailed(
            client=oauth,
            body=models.RequestTokenBody(
                grant_type=models.RequestTokenBodyGrantType.CLIENT_CREDENTIALS, scope="All:read"
            ),
        )
    assert answer.status_code == HTTPStatus.OK, answer.content
    parsed = answer.parsed
    assert parsed is not None, "requestToken's 200 answer is not parsed into a model"
    assert parsed.additional_properties == {}
    assert parsed.token_type == "Bearer"
    assert parsed.expires_in == TOKEN_TTL
    assert parsed.scope == "All:read"
    with generated.package.AuthenticatedClient(
        base_url=node.url, token=parsed.access_token, raise_on_unexpected_status=True
    ) as bearer:
        read = generated.operation("integrations", "get_client").sync_detailed(
            created.client_key, client=bearer
        )
    assert isinstance(read.parsed, models.ClientDetailEnvelope)
    assert read.parsed.data.client_key == created.client_key
