"""Logs: one JSON object per line, the request id on every line logged while a request is
handled, one access line per request, and never a secret, password, token or Authorization
header — checked on what the real formatters write."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from keyloft.observability.logs import QUIET_LOGGERS, JsonFormatter, TextFormatter
from keyloft.runtime import Runtime
from keyloft.storage.engine import create_engine
from keyloft.storage.store import Database
from tests.support.api import OrgFixture, basic, create_client

CLIENTS = "/v3/integrations/clients"
TOKEN = "/v3/oauth/token/generate"
ACCESS = "keyloft.access"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The test's own HTTP client logs the URLs it requests, after each answer: that is not us.
TEST_CLIENT_LOGGERS = ("httpx", "httpcore")
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

Lines = Callable[[], list[dict[str, Any]]]


def md5_hex(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


def client_basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


@pytest.fixture
def written() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What the JSON and the text formatter write for every record, at DEBUG and above."""
    json_out, text_out = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(json_out), logging.StreamHandler(text_out)]
    handlers[0].setFormatter(JsonFormatter())
    handlers[1].setFormatter(TextFormatter())
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ["", *QUIET_LOGGERS]}
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, level in QUIET_LOGGERS.items():  # as the process configuration does
        logging.getLogger(name).setLevel(level)
    yield json_out, text_out
    for handler in handlers:
        root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def lines(written: tuple[io.StringIO, io.StringIO]) -> Lines:
    """The service's JSON lines so far, each parsed (a line that is not JSON fails here)."""

    def parsed() -> list[dict[str, Any]]:
        out = [json.loads(line) for line in written[0].getvalue().splitlines()]
        return [line for line in out if not line["logger"].startswith(TEST_CLIENT_LOGGERS)]

    return parsed


def access(lines: Lines) -> list[dict[str, Any]]:
    return [line for line in lines() if line["logger"] == ACCESS]


async def test_whole_flow_logs_json_with_request_ids_and_no_secret(
    http: httpx.AsyncClient,
    org: OrgFixture,
    lines: Lines,
    written: tuple[io.StringIO, io.StringIO],
) -> None:
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
    key, secret = created["clientKey"], created["clientSecret"]
    minted = await request("POST", TOKEN, json={"key": key, "secret": secret})
    token = minted.json()["data"]["accessToken"]
    oauth_basic = client_basic(key, secret)
    by_basic = await request(
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={**oauth_basic, **FORM},
    )
    oauth_token = by_basic.json()["access_token"]
    by_post = await request(
        "POST",
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
        headers=FORM,
    )
    posted_token = by_post.json()["access_token"]
    introspected = await request(
        "POST", "/oauth2/introspect", data={"token": oauth_token}, headers={**oauth_basic, **FORM}
    )
    used = await request("GET", CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token})
    bearer = await request(
        "GET", f"{CLIENTS}/{key}", headers={"Authorization": f"Bearer {oauth_token}"}
    )
    till = org.tills[1]
    md5_login = basic(org.admin.code, md5_hex(org.admin.password))
    await request("GET", "/v3/integrations/scopes", headers=md5_login)
    await request("GET", CLIENTS, headers=till.headers)
    wrong_password = "Wrong-Password-4711"
    wrong_login = basic(org.admin.code, wrong_password)
    failed = await request("GET", CLIENTS, headers=wrong_login)
    bad_mint = await request("POST", TOKEN, json={"key": key, "secret": "Wrong-Secret-0815"})
    garbage = await request("GET", CLIENTS, headers={"X-CAP-API-OAUTH-TOKEN": token + "x"})
    rotated = await request(
        "POST", f"{CLIENTS}/{key}/secret", json={"graceSeconds": 60}, headers=org.auth
    )
    new_secret = rotated.json()["data"]["clientSecret"]
    revoked = await request(
        "POST", "/oauth2/revoke", data={"token": posted_token}, headers={**oauth_basic, **FORM}
    )
    deleted = await request("DELETE", f"{CLIENTS}/{key}", headers=org.auth)

    statuses = [
        r.status_code
        for r in (
            minted,
            by_basic,
            by_post,
            introspected,
            used,
            bearer,
            failed,
            bad_mint,
            garbage,
            rotated,
            revoked,
            deleted,
        )
    ]
    assert statuses == [200, 200, 200, 200, 200, 200, 401, 401, 401, 200, 200, 200]

    logged = lines()
    assert logged
    for line in logged:
        assert RFC3339_UTC.fullmatch(line["time"]), line
        datetime.fromisoformat(line["time"])
        assert line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        assert isinstance(line["message"], str)
        assert line.get("request_id") in {r.headers["X-Request-ID"] for r in responses}, line

    access_lines = access(lines)
    assert len(access_lines) == len(responses)
    for line, response in zip(access_lines, responses, strict=True):
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert line["method"] == response.request.method
        assert line["path"] == response.request.url.path
        assert line["status"] == response.status_code
        assert isinstance(line["duration_ms"], float)
        assert line["duration_ms"] >= 0
    assert {line["route"] for line in access_lines} >= {
        CLIENTS,
        TOKEN,
        "/oauth2/token",
        "/v3/integrations/clients/{clientKey}",
        "/v3/integrations/clients/{clientKey}/secret",
    }
    assert len({line["request_id"] for line in access_lines}) == len(access_lines)

    forbidden = {
        "client secret": secret,
        "rotated client secret": new_secret,
        "wrong client secret": "Wrong-Secret-0815",
        "v3 access token": token,
        "v3 token signature": token.rsplit(".", 1)[1],
        "oauth2 access token": oauth_token,
        "oauth2 token signature": oauth_token.rsplit(".", 1)[1],
        "posted oauth2 access token": posted_token,
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
        "wrong basic credentials": wrong_login["Authorization"].split(" ", 1)[1],
        "client basic credentials": oauth_basic["Authorization"].split(" ", 1)[1],
        "bearer header": f"Bearer {oauth_token}",
    }
    for output in written:
        text = output.getvalue()
        assert text
        for what, value in forbidden.items():
            assert value not in text, f"{what} in the log"


async def test_lines_logged_inside_a_request_carry_its_request_id(
    http: httpx.AsyncClient, org: OrgFixture, runtime: Runtime, lines: Lines, tmp_path: Any
) -> None:
    """A warning from deep inside a request (the store is gone) carries the request id."""
    dead = Database(create_engine(f"sqlite:///{tmp_path}/missing/dir/keyloft.db"))
    live, runtime.database = runtime.database, dead
    try:
        response = await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": "store-gone-1"})
    finally:
        runtime.database = live
        await dead.dispose()
    assert response.status_code == 503
    logged = lines()
    warnings = [line for line in logged if line["logger"] == "keyloft.errors"]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "WARNING"
    assert warnings[0]["request_id"] == "store-gone-1"
    assert access(lines)[-1]["request_id"] == "store-gone-1"
    assert access(lines)[-1]["status"] == 503


async def test_lines_outside_requests_have_no_request_id(
    http: httpx.AsyncClient, lines: Lines
) -> None:
    await http.get("/health/live")
    logging.getLogger("keyloft.test").warning("between requests")
    outside = [line for line in lines() if line["logger"] == "keyloft.test"]
    assert len(outside) == 1
    assert "request_id" not in outside[0]


async def test_request_id_is_echoed_and_logged(
    http: httpx.AsyncClient, org: OrgFixture, lines: Lines
) -> None:
    response = await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": "trace-42.abc_Z"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-42.abc_Z"
    logged = access(lines)
    assert len(logged) == 1
    assert logged[0]["request_id"] == "trace-42.abc_Z"


@pytest.mark.parametrize(
    "offered",
    ["has space", "x" * 65, "semi;colon", "new\\nline", ""],
)
async def test_unusable_request_id_is_replaced(
    http: httpx.AsyncClient, org: OrgFixture, lines: Lines, offered: str
) -> None:
    response = await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": offered})
    echoed = response.headers["X-Request-ID"]
    assert echoed != offered
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,64}", echoed)
    assert access(lines)[0]["request_id"] == echoed


async def test_generated_request_ids_differ(http: httpx.AsyncClient, org: OrgFixture) -> None:
    first = await http.get("/health/live")
    second = await http.get("/health/live")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_query_string_is_never_logged(
    http: httpx.AsyncClient,
    org: OrgFixture,
    lines: Lines,
    written: tuple[io.StringIO, io.StringIO],
) -> None:
    created = await create_client(http, org)
    marker = "QueryMarker9931"
    await http.get(CLIENTS, params={"includeInvalid": "true", "secret": marker}, headers=org.auth)
    await http.post(
        f"{TOKEN}?key={created['clientKey']}&secret={created['clientSecret']}",
        json={"key": created["clientKey"], "secret": created["clientSecret"]},
    )
    await http.get(CLIENTS, params={"includeInvalid": marker}, headers=org.auth)
    assert len(access(lines)) == 4
    for line in lines():
        text = json.dumps(line)
        assert marker not in text
        assert created["clientSecret"] not in text
        assert "includeInvalid" not in text
        assert "?" not in line.get("path", "")
    service_text = [
        row for row in written[1].getvalue().splitlines() if row.split(" ")[3:4] != ["httpx"]
    ]
    assert service_text
    assert not any(marker in row or created["clientSecret"] in row for row in service_text)


async def test_error_responses_log_their_status_and_route(
    http: httpx.AsyncClient, org: OrgFixture, lines: Lines
) -> None:
    await http.get("/nope")
    await http.patch(CLIENTS, headers=org.auth)
    await http.post(CLIENTS, content=b"x" * (1024 * 1024 + 1), headers=org.auth)
    logged = access(lines)
    assert [(line["status"], line["route"]) for line in logged] == [
        (404, "unmatched"),
        (405, CLIENTS),
        (413, "unmatched"),
    ]
    assert [line["message"].split(" ")[:3] for line in logged] == [
        ["GET", "/nope", "404"],
        ["PATCH", CLIENTS, "405"],
        ["POST", CLIENTS, "413"],
    ]


async def test_text_format_names_the_request(
    http: httpx.AsyncClient, org: OrgFixture, written: tuple[io.StringIO, io.StringIO]
) -> None:
    await http.get(CLIENTS, headers={**org.auth, "X-Request-ID": "text-rid-7"})
    rows = [row for row in written[1].getvalue().splitlines() if f" {ACCESS} " in row]
    assert len(rows) == 1
    assert re.fullmatch(
        rf"\S+ \S+ INFO {ACCESS} GET {CLIENTS} 200 \d+\.\d\dms rid=text-rid-7", rows[0]
    )


def test_formatters_mask_what_looks_like_a_credential() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl"
    record = logging.LogRecord(
        "keyloft.test",
        logging.WARNING,
        __file__,
        1,
        "header %s, token %s, hash %s",
        ("Basic YWRtaW46cGFzc3dvcmQ=", jwt, "kl1$hmac-sha256$" + "ab" * 32),
        None,
    )
    record.detail = f"Bearer {jwt}"
    for formatter in (JsonFormatter(), TextFormatter()):
        out = formatter.format(record)
        assert "YWRtaW46cGFzc3dvcmQ=" not in out
        assert "c2lnbmF0dXJlLXZhbHVl" not in out
        assert "ab" * 32 not in out
        assert "[redacted]" in out
    line = json.loads(JsonFormatter().format(record))
    assert line["detail"] == "[redacted]"
    assert line["message"] == "header [redacted], token [redacted], hash [redacted]"


def test_exceptions_become_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "keyloft.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    out = JsonFormatter().format(record)
    assert "\n" not in out
    line = json.loads(out)
    assert "ValueError: boom" in line["exception"]
    assert line["level"] == "ERROR"


def test_process_configuration_routes_server_loggers_and_honours_the_level() -> None:
    script = """
import logging
from keyloft.observability import logs
logs.configure("WARNING", "json")
logging.getLogger("uvicorn.error").warning("server says %s", "hello")
logging.getLogger("uvicorn.access").warning("uvicorn access line")
logging.getLogger("keyloft.test").info("below the level")
logging.getLogger("keyloft.test").error("above the level")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    rows = [json.loads(row) for row in done.stderr.splitlines()]
    assert [(row["logger"], row["level"], row["message"]) for row in rows] == [
        ("uvicorn.error", "WARNING", "server says hello"),
        ("keyloft.test", "ERROR", "above the level"),
    ]
    assert done.stdout == ""
