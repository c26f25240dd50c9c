"""``keyloft audit`` prints an org's audit trail, as the API shows it."""

from __future__ import annotations

import asyncio
import getpass
import json
import socket
from pathlib import Path

import httpx

from keyloft.config import Settings
from keyloft.runtime import build_runtime
from keyloft.web.app import create_app
from tests.support.api import basic
from tests.support.cli import Invoke, as_json


async def _create_client(admin: dict[str, str], till_id: int) -> str:
    runtime = await build_runtime(Settings())
    try:
        transport = httpx.ASGITransport(app=create_app(runtime=runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyloft.test") as http:
            created = await http.post(
                "/v3/integrations/clients",
                json={
                    "name": "audited",
                    "description": "",
                    "expirationTokenTime": 600,
                    "defaultTillId": till_id,
                    "scopes": [{"entityId": 2, "permission": "READ", "resources": []}],
                },
                headers=basic(admin["username"], admin["password"]),
            )
            assert created.status_code == 200, created.text
    finally:
        await runtime.close()
    key: str = created.json()["data"]["clientKey"]
    return key


def test_audit_lists_changes_made_through_the_api(keyloft: Invoke, workdir: Path) -> None:
    made = json.loads(keyloft("init", "--demo", "--json").stdout)
    org, admin = made["orgId"], made["admin"]
    key = asyncio.run(_create_client(admin, made["tills"][0]["id"]))

    listed = json.loads(keyloft("audit", "--org", str(org), "--client-key", key, "--json").stdout)
    assert [(e["action"], e["target"]["key"]) for e in listed["events"]] == [("client.create", key)]
    assert listed["events"][0]["actor"] == {"code": admin["username"], "type": "ADMIN_USER"}
    assert listed["events"][0]["orgId"] == org
    text = keyloft("audit", "--org", str(org)).stdout
    assert "client.create" in text
    assert key in text
    missing = keyloft("audit", "--org", "999")
    assert missing.exit_code != 0


def _who() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def test_operator_commands_are_audited_with_who_ran_them(keyloft: Invoke, workdir: Path) -> None:
    """init, org/admin/till/scope creation, key rotation and retirement each leave an event
    naming the operator (user@host); one invocation's events share a request id."""
    made = as_json(keyloft("init", "--demo", "--json"))
    org = str(made["orgId"])
    as_json(
        keyloft(
            "scope",
            "add",
            "--org",
            org,
            "--entity",
            "Coupons",
            "--pattern",
            ".*/coupons.*",
            "--json",
        )
    )
    rotated = as_json(keyloft("keys", "rotate", "--publish-delay", "0", "--json"))
    everything = as_json(keyloft("audit", "--json"))["events"]
    actions = [e["action"] for e in everything]
    assert actions[:2] == ["signing_key.rotate", "scope.create"]
    assert sorted(actions[2:]) == sorted(
        ["signing_key.create", "org.create", "admin.create", "till.create", "till.create"]
    )
    assert {e["actor"]["code"] for e in everything} == {_who()}
    assert {e["actor"]["type"] for e in everything} == {"OPERATOR"}
    from_init = {e["requestId"] for e in everything[2:]}
    assert len(from_init) == 1
    assert from_init.pop().startswith("cli-")
    assert everything[0]["requestId"] not in {e["requestId"] for e in everything[1:]}
    passwords = [made["admin"]["password"], *(till["password"] for till in made["tills"])]
    assert not any(password in json.dumps(everything) for password in passwords)

    deployment = as_json(keyloft("audit", "--deployment", "--json"))["events"]
    assert [e["action"] for e in deployment] == ["signing_key.rotate", "signing_key.create"]
    assert all(e["orgId"] is None for e in deployment)
    assert deployment[0]["target"] == {"type": "signing_key", "key": rotated["kid"]}

    first_kid = deployment[1]["target"]["key"]
    as_json(keyloft("keys", "retire", first_kid, "--json"))
    retired = as_json(keyloft("audit", "--action", "signing_key.retire", "--json"))["events"]
    assert [e["target"]["key"] for e in retired] == [first_kid]
    assert list(retired[0]["changes"]) == ["retired"]

    in_org = as_json(keyloft("audit", "--org", org, "--json"))["events"]
    assert {e["orgId"] for e in in_org} == {made["orgId"]}
    assert "signing_key.rotate" not in {e["action"] for e in in_org}
    by_actor = as_json(keyloft("audit", "--actor", _who(), "--limit", "3", "--json"))
    assert len(by_actor["events"]) == 3
    assert by_actor["nextCursor"]

    clash = keyloft("audit", "--org", org, "--deployment")
    assert clash.exit_code != 0
    assert "exclude" in clash.output
