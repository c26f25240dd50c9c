"""RFC 6749 edge cases of /oauth2/token (and its sibling endpoints): how client credentials
are read (§2.3, Appendix B), what a body may be (§3.2), scope syntax (§3.3), and the error
answers (§5.2) — every one a 4xx with ``Cache-Control: no-store``, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from keyloft.config import Settings
from keyloft.runtime import Runtime, build_runtime
from keyloft.storage.store import Database
from keyloft.web.app import create_app
from tests.support.api import BASE_URL, OrgFixture, create_client

TOKEN = "/oauth2/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GRANT = "grant_type=client_credentials"


def raw_basic(user: str, password: str) -> str:
    """``Basic`` credentials of exactly these characters: no form-encoding added."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def encode_all(text: str, *, lower: bool = False) -> str:
    """Every character as %XX (Appendix B allows it; decoders must undo it)."""
    encoded = "".join(f"%{ord(ch):02X}" for ch in text)
    return encoded.lower() if lower else encoded


def assert_oauth_error(answer: httpx.Response, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == error
    assert set(body) <= {"error", "error_description"}
    assert answer.headers["cache-control"] == "no-store"
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Basic")


def assert_token(answer: httpx.Response) -> None:
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    created = await create_client(
        http, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    assert created["clientKey"].isalnum()
    assert created["clientSecret"].isalnum()
    return created


Credentials = Callable[[str, str], tuple[str, str]]

# (how the key and secret are written inside Basic, expected status)
BASIC_ENCODINGS: list[Any] = [
    pytest.param(lambda k, s: (k, s), 200, id="plain"),
    pytest.param(lambda k, s: (encode_all(k), encode_all(s)), 200, id="all-percent-encoded"),
    pytest.param(
        lambda k, s: (encode_all(k, lower=True), encode_all(s, lower=True)), 200, id="lower-hex"
    ),
    pytest.param(lambda k, s: (k[:3] + encode_all(k[3:6]) + k[6:], s), 200, id="partly-encoded"),
    pytest.param(lambda k, s: (k, encode_all(s)), 200, id="secret-encoded"),
    pytest.param(lambda k, s: (k[:4] + "+" + k[4:], s), 401, id="plus-is-space-in-id"),
    pytest.param(lambda k, s: (k, s + "+"), 401, id="plus-is-space-in-secret"),
    pytest.param(lambda k, s: (k + "%20", s), 401, id="encoded-space"),
    pytest.param(lambda k, s: (k + "%3A", s), 401, id="encoded-colon-in-id"),
    pytest.param(lambda k, s: (k, "%3A" + s), 401, id="encoded-colon-in-secret"),
    pytest.param(lambda k, s: (k, s + ":x"), 401, id="raw-colon-in-secret"),
    pytest.param(lambda k, s: (k + "%26", s), 401, id="encoded-ampersand"),
    pytest.param(lambda k, s: (k + "&x=y", s), 401, id="raw-ampersand"),
    pytest.param(lambda k, s: (k + "%25", s), 401, id="encoded-percent"),
    pytest.param(lambda k, s: (k + "%", s), 401, id="lone-percent"),
    pytest.param(lambda k, s: (k + "%zz", s), 401, id="bad-escape"),
    pytest.param(lambda k, s: (k, s + "%FF"), 401, id="escape-not-utf8"),
]


@pytest.mark.parametrize(("shape", "status"), BASIC_ENCODINGS)
async def test_appendix_b_form_encoding_inside_basic(
    http: httpx.AsyncClient, client: dict[str, Any], shape: Credentials, status: int
) -> None:
    user, password = shape(client["clientKey"], client["clientSecret"])
    answer = await http.post(
        TOKEN, content=GRANT, headers={"Authorization": raw_basic(user, password), **FORM}
    )
    if status == 200:
        assert_token(answer)
    else:
        assert_oauth_error(answer, status, "invalid_client")


async def test_appendix_b_applies_to_introspection_too(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    auth = raw_basic(encode_all(client["clientKey"]), encode_all(client["clientSecret"]))
    issued = await http.post(TOKEN, content=GRANT, headers={"Authorization": auth, **FORM})
    assert_token(issued)
    answer = await http.post(
        "/oauth2/introspect",
        content=urlencode({"token": issued.json()["access_token"]}),
        headers={"Authorization": auth, **FORM},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is True


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# Authorization headers that are not usable Basic credentials.
BAD_AUTHORIZATION: list[Any] = [
    pytest.param(lambda k, s: "Basic " + _b64(f"{k}{s}".encode()), 400, id="no-colon"),
    pytest.param(lambda k, s: "Basic !!not*base64!!", 400, id="bad-base64"),
    pytest.param(lambda k, s: "Basic " + _b64(b"x:y")[:-1], 400, id="bad-padding"),
    pytest.param(lambda k, s: "Basic", 400, id="no-credentials"),
    pytest.param(lambda k, s: "Basic " + _b64(b"\xff\xfe:\xff"), 400, id="not-utf8"),
    pytest.param(lambda k, s: "Basic " + _b64(f":{s}".encode()), 401, id="empty-id"),
    pytest.param(lambda k, s: "Basic " + _b64(f"{k}:".encode()), 401, id="empty-secret"),
    pytest.param(lambda k, s: "Basic " + _b64(b":"), 401, id="only-colon"),
    pytest.param(lambda k, s: "Digest x", 401, id="digest"),
    pytest.param(lambda k, s: "Bearer " + s, 401, id="bearer"),
    pytest.param(lambda k, s: "", 401, id="empty-header"),
    pytest.param(lambda k, s: _b64(f"{k}:{s}".encode()), 401, id="no-scheme"),
]


@pytest.mark.parametrize(("header", "status"), BAD_AUTHORIZATION)
async def test_bad_basic_headers_are_4xx_never_500(
    http: httpx.AsyncClient,
    client: dict[str, Any],
    header: Callable[[str, str], str],
    status: int,
) -> None:
    authorization = header(client["clientKey"], client["clientSecret"])
    answer = await http.post(TOKEN, content=GRANT, headers={"Authorization": authorization, **FORM})
    assert_oauth_error(answer, status, "invalid_request" if status == 400 else "invalid_client")


async def test_basic_scheme_is_case_insensitive(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    header = raw_basic(client["clientKey"], client["clientSecret"]).replace("Basic", "bAsIc")
    assert_token(await http.post(TOKEN, content=GRANT, headers={"Authorization": header, **FORM}))


@pytest.mark.parametrize(
    "body_fields",
    [
        pytest.param(("client_id",), id="basic-and-client_id"),
        pytest.param(("client_secret",), id="basic-and-client_secret"),
        pytest.param(("client_id", "client_secret"), id="basic-and-both"),
    ],
)
async def test_two_authentication_methods_are_400(
    http: httpx.AsyncClient, client: dict[str, Any], body_fields: tuple[str, ...]
) -> None:
    values = {"client_id": client["clientKey"], "client_secret": client["clientSecret"]}
    form = {"grant_type": "client_credentials"} | {f: values[f] for f in body_fields}
    answer = await http.post(
        TOKEN,
        content=urlencode(form),
        headers={"Authorization": raw_basic(client["clientKey"], client["clientSecret"]), **FORM},
    )
    assert_oauth_error(answer, 400, "invalid_request")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"client_id": "KEY"}, id="id-without-secret"),
        pytest.param({"client_secret": "SECRET"}, id="secret-without-id"),
        pytest.param({"client_id": "KEY", "client_secret": ""}, id="empty-secret"),
        pytest.param({"client_id": "", "client_secret": "SECRET"}, id="empty-id"),
        pytest.param({}, id="no-credentials"),
    ],
)
async def test_incomplete_body_credentials_are_401(
    http: httpx.AsyncClient, client: dict[str, Any], fields: dict[str, str]
) -> None:
    actual = {"KEY": client["clientKey"], "SECRET": client["clientSecret"]}
    form = {"grant_type": "client_credentials"} | {
        name: actual.get(value, value) for name, value in fields.items()
    }
    answer = await http.post(TOKEN, content=urlencode(form), headers=FORM)
    assert_oauth_error(answer, 401, "invalid_client")


def post_form(client: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": client["clientKey"],
        "client_secret": client["clientSecret"],
        **extra,
    }


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        pytest.param("application/json", "json", id="json"),
        pytest.param("text/plain", "form", id="text-plain"),
        pytest.param(None, "form", id="no-content-type"),
        pytest.param("multipart/form-data; boundary=x", "form", id="multipart-type"),
        pytest.param(FORM["Content-Type"], "latin-1", id="not-utf8"),
        pytest.param(FORM["Content-Type"], "too-many-fields", id="33-fields"),
    ],
)
async def test_bodies_that_are_not_a_utf8_form_are_400(
    http: httpx.AsyncClient, client: dict[str, Any], content_type: str | None, encode: str
) -> None:
    form = post_form(client)
    if encode == "json":
        content = json.dumps(form).encode()
    elif encode == "latin-1":
        content = (urlencode(form) + "&note=caf").encode() + b"\xe9"
    elif encode == "too-many-fields":
        extra = {f"x{n}": "1" for n in range(33 - len(form))}
        content = urlencode(form | extra).encode()
    else:
        content = urlencode(form).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await http.post(TOKEN, content=content, headers=headers)
    assert_oauth_error(answer, 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
    ],
)
async def test_form_media_type_parameters_and_case(
    http: httpx.AsyncClient, client: dict[str, Any], content_type: str
) -> None:
    answer = await http.post(
        TOKEN, content=urlencode(post_form(client)), headers={"Content-Type": content_type}
    )
    assert_token(answer)


async def test_32_fields_are_still_accepted(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    form = post_form(client)
    form |= {f"x{n}": "1" for n in range(32 - len(form))}
    assert len(form) == 32
    assert_token(await http.post(TOKEN, content=urlencode(form), headers=FORM))


async def test_unknown_parameters_are_ignored(
    http: httpx.AsyncClient, client: dict[str, Any]
) -> None:
    form = post_form(
        client,
        audience="https://elsewhere.test",
        resource="https://elsewhere.test/api",
        username="root",
        refresh_token="x",
        empty="",
    )
    answer = await http.post(TOKEN, content=urlencode(form), headers=FORM)
    assert_token(answer)
    assert "refresh_token" not in answer.json()


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("All:read\\", id="backslash"),
        pytest.param('"All:read"', id="double-quote"),
        pytest.param("All:read\x01", id="control-char"),
        pytest.param("All:read\x00", id="nul"),
        pytest.param("All:read\tAll:read", id="tab"),
        pytest.param("All:read\r\nAll:read", id="crlf"),
        pytest.param("All:read\x7f", id="del"),
        pytest.param("Àll:read", id="non-ascii"),
        pytest.param("All:réad", id="non-ascii-permission"),
        pytest.param("All:read\u00a0", id="nbsp"),
        pytest.param(" All:read", id="leading-space"),
        pytest.param("All:read ", id="trailing-space"),
    ],
)
async def test_illegal_scope_characters_are_invalid_scope(
    http: httpx.AsyncClient, client: dict[str, Any], scope: str
) -> None:
    answer = await http.post(TOKEN, content=urlencode(post_form(client, scope=scope)), headers=FORM)
    assert_oauth_error(answer, 400, "invalid_scope")


async def test_legal_scope_is_accepted(http: httpx.AsyncClient, client: dict[str, Any]) -> None:
    answer = await http.post(
        TOKEN, content=urlencode(post_form(client, scope="All:read")), headers=FORM
    )
    assert_token(answer)
    assert answer.json()["scope"] == "All:read"


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_methods_other_than_post_are_invalid_request(
    http: httpx.AsyncClient, path: str, method: str
) -> None:
    answer = await http.request(method, path)  # RFC 6749 §3.2: POST only
    assert_oauth_error(answer, 405, "invalid_request")
    assert answer.headers["allow"] == "POST"


LIMIT = 3
WINDOW = 60


@pytest.fixture
async def limited(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A node that locks a client key after three failed authentications."""
    rt: Runtime = await build_runtime(
        settings.model_copy(
            update={
                "auth_failure_limit": LIMIT,
                "auth_failure_ip_limit": 100,
                "auth_failure_window_seconds": WINDOW,
            }
        ),
        database=database,
    )
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            yield http
    finally:
        await rt.stop()


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
async def test_too_many_failures_answer_slow_down(
    limited: httpx.AsyncClient, org: OrgFixture, path: str
) -> None:
    client = await create_client(
        limited, org, scopes=[{"entityId": 2, "permission": "READ", "resources": []}]
    )
    key, secret = client["clientKey"], client["clientSecret"]

    async def attempt(password: str) -> httpx.Response:
        return await limited.post(
            path,
            content=urlencode({"grant_type": "client_credentials", "token": "x"}),
            headers={"Authorization": raw_basic(key, password), **FORM},
        )

    for _ in range(LIMIT):
        assert_oauth_error(await attempt("x" * 40), 401, "invalid_client")
    for password in ("x" * 40, secret):  # locked: even the right secret waits
        answer = await attempt(password)
        assert_oauth_error(answer, 429, "slow_down")
        assert 0 < int(answer.headers["retry-after"]) <= WINDOW
