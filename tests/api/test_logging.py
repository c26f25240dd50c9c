"""Access logging: one line per request with a request id; never a secret, token or query."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import httpx
import pytest

from tests.conftest import OrgFixture, basic, create_client

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
ACCESS = "keyloft.access"
LINE = re.compile(
    r"(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+\.\d+)ms rid=(?P<rid>\S+)"
)


def rendered(record: logging.LogRecord) -> str:
    """Everything a handler could write for this record."""
    parts = [record.getMessage(), repr(record.args), str(record.msg)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def md5_hex(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == ACCESS]


async def test_whole_flow_logs_one_line_per_request_and_no_secret(
    http: httpx.AsyncClient, org: OrgFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[httpx.Response] = []

    async def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await http.request(method, url, **kwargs)
        responses.append(response)
        return response

    created = (
        await request(
            "POST",
            CLIENTS,
            json={
                "name": "logged",
                "description": "d",
                "expirationTokenTime": 600,
                "defaultTillId": org.tills[0].id,
                "scopes": [{"entityId": 2, "permission": "READWRITE", "resources": []}],
            },
            headers=org.auth,
        )
    ).json()["data"]
    secret = created["clientSecret"]
    minted = await request("POST", TOKEN, json={"key": created["clientKey"], "secret": secret})
    token = minted.json()["data"]["accessToken"]
    used = await request("GET", CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})
    bearer = await request(
        "GET", f"{CLIENTS}/{created['clientKey']}", headers={"Authorization": f"Bearer {token}"}
    )
    till = org.tills[1]
    md5_login = basic(org.admin.code, md5_hex(org.admin.password))
    await request("GET", "/v3/integrations/scopes", headers=md5_login)
    await request("GET", CLIENTS, headers=till.headers)
    wrong_password = "Wrong-Password-4711"
    failed = await request("GET", CLIENTS, headers=basic(org.admin.code, wrong_password))
    bad_mint = await request("POST", TOKEN, json={"key": created["clientKey"], "secret": "nope"})
    garbage = await request("GET", CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token + "x"})
    deleted = await request("DELETE", f"{CLIENTS}/{created['clientKey']}", headers=org.auth)

    assert [r.status_code for r in (minted, used, bearer, failed, bad_mint, garbage, deleted)] == [
        200,
        200,
        200,
        401,
        401,
        401,
        200,
    ]

    lines = access_records(caplog)
    assert len(lines) == len(responses)
    for record, response in zip(lines, responses, strict=True):
        match = LINE.fullmatch(record.getMessage())
        assert match is not None, record.getMessage()
        assert match["method"] == response.request.method
        assert match["path"] == response.request.url.path
        assert int(match["status"]) == response.status_code
        assert match["rid"] == response.headers["X-Request-ID"]
    assert len({record.getMessage().rsplit("rid=", 1)[1] for record in lines}) == len(lines)

    forbidden = {
        "client secret": secret,
        "access token": token,
        "token signature": token.rsplit(".", 1)[1],
        "admin password": org.admin.password,
        "admin password md5": md5_hex(org.admin.password),
        "till password": till.password,
        "till password md5": md5_hex(till.password),
        "wrong password": wrong_password,
        "wrong password md5": md5_hex(wrong_password),
        "admin basic header": org.auth["Authorization"],
        "admin basic credentials": org.auth["Authorization"].split(" ", 1)[1],
        "md5 basic credentials": md5_login["Authorization"].split(" ", 1)[1],
        "till basic credentials": till.headers["Authorization"].split(" ", 1)[1],
        "bearer header": f"Bearer {token}",
    }
    assert caplog.records
    for record in caplog.records:
        text = rendered(record)
        for what, value in forbidden.items():
            assert value not in text, f"{what} in log record {record.name}: {text[:200]}"


async def test_request_id_is_echoed_and_logged(
    http: httpx.AsyncClient, org: OrgFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    response = await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": "trace-42.abc_Z"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-42.abc_Z"
    lines = access_records(caplog)
    assert len(lines) == 1
    assert lines[0].getMessage().endswith("rid=trace-42.abc_Z")


@pytest.mark.parametrize(
    "offered",
    ["has space", "x" * 65, "semi;colon", "new\\nline", ""],
)
async def test_unusable_request_id_is_replaced(
    http: httpx.AsyncClient, org: OrgFixture, caplog: pytest.LogCaptureFixture, offered: str
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    response = await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": offered})
    echoed = response.headers["X-Request-ID"]
    assert echoed != offered
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)
    assert access_records(caplog)[0].getMessage().endswith(f"rid={echoed}")


async def test_generated_request_ids_differ(http: httpx.AsyncClient, org: OrgFixture) -> None:
    first = await http.get("/health/live")
    second = await http.get("/health/live")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_query_string_is_never_logged(
    http: httpx.AsyncClient, org: OrgFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await create_client(http, org)
    marker = "QueryMarker9931"
    await http.get(CLIENTS, params={"includeInvalid": "true", "secret": marker}, headers=org.auth)
    await http.post(
        f"{TOKEN}?key={created['clientKey']}&secret={created['clientSecret']}",
        json={"key": created["clientKey"], "secret": created["clientSecret"]},
    )
    await http.get(CLIENTS, params={"includeInvalid": marker}, headers=org.auth)
    # The test's own HTTP client (logger "httpx") logs the URL it requested; that is not us.
    service = [record for record in caplog.records if not record.name.startswith("httpx")]
    assert len(access_records(caplog)) == 4
    for record in service:
        text = rendered(record)
        assert marker not in text
        assert created["clientSecret"] not in text
        assert "includeInvalid" not in text
    for record in access_records(caplog):
        assert "?" not in record.getMessage()


async def test_error_responses_log_their_status(
    http: httpx.AsyncClient, org: OrgFixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    await http.get("/nope")
    await http.patch(CLIENTS, headers=org.auth)
    await http.post(CLIENTS, content=b"x" * (1024 * 1024 + 1), headers=org.auth)
    matches = [LINE.fullmatch(record.getMessage()) for record in access_records(caplog)]
    assert [match["status"] if match else None for match in matches] == ["404", "405", "413"]
