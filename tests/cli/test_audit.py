"""``keyloft audit`` prints an org's audit trail, as the API shows it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from keyloft.config import Settings
from keyloft.web.app import create_app
from keyloft.web.runtime import build_runtime
from tests.cli.conftest import Invoke
from tests.conftest import basic


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

    listed = json.loads(keyloft("audit", "--org", str(org), "--json").stdout)
    assert [(e["action"], e["target"]) for e in listed["events"]] == [("client.create", key)]
    assert listed["events"][0]["actor"] == {"code": admin["username"], "type": "ADMIN_USER"}
    text = keyloft("audit", "--org", str(org)).stdout
    assert "client.create" in text
    assert key in text
    missing = keyloft("audit", "--org", "999")
    assert missing.exit_code != 0
