"""The hot endpoints' direct lane answers exactly what the router answers, without the router.

Each request below is sent twice: through the app as it runs (the lane takes it) and with the
lane emptied (the router takes it). Error answers must match byte for byte; token answers
differ only in the token itself (its id and times), so their shape and validity are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from keyloft.domain.errors import InvalidClientCredentials
from keyloft.web.app import create_app
from keyloft.web.lane import DirectLane, LaneDeclarationError, LaneTable, direct
from keyloft.web.routes import health
from tests.support.api import BASE_URL, OrgFixture, basic, client_basic, create_client, mint

Case = Callable[[dict[str, Any], str], dict[str, Any]]
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ALLOWED = {"method": "GET", "path": "/v3/targetGroups/7"}


def _token_body(c: dict[str, Any], _: str) -> dict[str, Any]:
    return {"json": {"key": c["clientKey"], "secret": c["clientSecret"]}}


CASES: dict[str, tuple[str, str, Case]] = {
    "v3 token": ("POST", "/v3/oauth/token/generate", _token_body),
    "v3 token, wrong secret": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"json": {"key": c["clientKey"], "secret": "not-the-secret"}},
    ),
    "v3 token, no secret": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"json": {"key": c["clientKey"]}},
    ),
    "v3 token, secret not a string": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"json": {"key": c["clientKey"], "secret": 7}},
    ),
    "v3 token, not JSON": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"content": b"key=a&secret=b", "headers": FORM},
    ),
    "v3 token, broken JSON": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"content": b'{"key": ', "headers": JSON},
    ),
    "v3 token, empty body": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"content": b"", "headers": JSON},
    ),
    "v3 token, array body": (
        "POST",
        "/v3/oauth/token/generate",
        lambda c, _: {"content": b"[1, 2]", "headers": JSON},
    ),
    "oauth token": (
        "POST",
        "/oauth2/token",
        lambda c, _: {
            "data": {"grant_type": "client_credentials"},
            "headers": client_basic(c["clientKey"], c["clientSecret"]),
        },
    ),
    "oauth token, other grant": (
        "POST",
        "/oauth2/token",
        lambda c, _: {
            "data": {"grant_type": "password"},
            "headers": client_basic(c["clientKey"], c["clientSecret"]),
        },
    ),
    "oauth token, no client authentication": (
        "POST",
        "/oauth2/token",
        lambda c, _: {"data": {"grant_type": "client_credentials"}},
    ),
    "oauth token, wrong secret": (
        "POST",
        "/oauth2/token",
        lambda c, _: {
            "data": {"grant_type": "client_credentials"},
            "headers": client_basic(c["clientKey"], "wrong"),
        },
    ),
    "introspection": (
        "POST",
        "/oauth2/introspect",
        lambda c, token: {
            "data": {"token": token},
            "headers": client_basic(c["clientKey"], c["clientSecret"]),
        },
    ),
    "introspection, no token": (
        "POST",
        "/oauth2/introspect",
        lambda c, _: {"data": {}, "headers": client_basic(c["clientKey"], c["clientSecret"])},
    ),
    "check, allowed": ("POST", "/v3/oauth/check", lambda c, t: {"json": {"token": t, **ALLOWED}}),
    "check, refused": (
        "POST",
        "/v3/oauth/check",
        lambda c, t: {"json": {"token": t, "method": "DELETE", "path": "/v3/nothing/here"}},
    ),
    "check, forged token": (
        "POST",
        "/v3/oauth/check",
        lambda c, t: {"json": {"token": t[:-4] + "AAAA", **ALLOWED}},
    ),
    "check, method too long": (
        "POST",
        "/v3/oauth/check",
        lambda c, t: {"json": {"token": t, "method": "G" * 17, "path": "/v3/x"}},
    ),
    "forward-auth, allowed": (
        "GET",
        "/v3/oauth/check",
        lambda c, t: {
            "headers": {
                "Authorization": f"Bearer {t}",
                "X-Original-Method": "GET",
                "X-Original-URI": "/v3/targetGroups/7",
            }
        },
    ),
    "forward-auth, no token": (
        "GET",
        "/v3/oauth/check",
        lambda c, t: {"headers": {"X-Original-Method": "GET", "X-Original-URI": "/v3/x"}},
    ),
}
TOKEN_ANSWERS = {"v3 token", "oauth token"}
PER_REQUEST = {"x-request-id", "content-length"}


@pytest.fixture
async def client(http: httpx.AsyncClient, org: OrgFixture) -> dict[str, Any]:
    return await create_client(http, org)


def _headers(answer: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k not in PER_REQUEST}


def _token_of(answer: httpx.Response) -> str:
    body = answer.json()
    token = body["data"]["accessToken"] if "data" in body else body["access_token"]
    assert isinstance(token, str)
    return token


def _shape(answer: httpx.Response) -> Any:
    body = answer.json()
    if "data" in body:
        return {**body, "data": {**body["data"], "accessToken": "…"}}
    return {**body, "access_token": "…"}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_lane_answers_as_the_router(
    http: httpx.AsyncClient,
    app: FastAPI,
    client: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    method, path, build = CASES[case]
    token = await mint(http, client["clientKey"], client["clientSecret"])
    by_lane = await http.request(method, path, **build(client, token))
    monkeypatch.setattr(_lane(app), "table", LaneTable({}, ()))
    by_router = await http.request(method, path, **build(client, token))

    assert by_lane.status_code == by_router.status_code
    assert _headers(by_lane) == _headers(by_router)
    assert "x-request-id" in by_lane.headers
    if case in TOKEN_ANSWERS:
        assert by_lane.status_code == 200, by_lane.text
        assert _shape(by_lane) == _shape(by_router)
        for answer in (by_lane, by_router):
            decided = await http.post(
                "/v3/oauth/check", json={"token": _token_of(answer), **ALLOWED}
            )
            assert decided.json()["data"]["allowed"] is True
    else:
        assert by_lane.content == by_router.content


MANAGES = [{"entityId": 2, "permission": "READWRITE", "resources": []}]  # "All": the API too
LIST, ONE = "/v3/integrations/clients", "/v3/integrations/clients/CLIENT"
# The path (CLIENT: the client's key) and query, the credentials sent, and the status expected.
READS: dict[str, tuple[str, str, int]] = {
    "list, token": (LIST, "token", 200),
    "list, basic": (LIST, "basic", 200),
    "list, a page": (LIST + "?limit=1", "basic", 200),
    "list, deleted too, by name": (LIST + "?includeInvalid=true&name=LANE", "token", 200),
    "list, limit not a number": (LIST + "?limit=ten", "basic", 400),
    "list, limit out of range": (LIST + "?limit=0", "token", 400),
    "list, cursor too long": (LIST + "?cursor=" + "c" * 65, "basic", 400),
    "list, no credentials": (LIST, "none", 401),
    "list, wrong password": (LIST, "wrong", 401),
    "get, token": (ONE, "token", 200),
    "get, basic": (ONE, "basic", 200),
    "get, unknown key": (LIST + "/no-such-client", "basic", 404),
    "get, forged token": (ONE, "forged", 401),
}


@pytest.mark.parametrize("case", list(READS))
async def test_the_lane_reads_clients_as_the_router(
    app: FastAPI,
    http: httpx.AsyncClient,
    org: OrgFixture,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    created = await create_client(http, org, name="lane-reads", scopes=MANAGES)
    token = await mint(http, created["clientKey"], created["clientSecret"])
    path, credentials, status = READS[case]
    headers = {
        "token": {"X-CAP-API-OAUTH-TOKEN": token},
        "forged": {"X-CAP-API-OAUTH-TOKEN": token[:-4] + "AAAA"},
        "basic": org.auth,
        "wrong": basic(org.admin.code, "not-the-password"),
        "none": {},
    }[credentials]
    url = path.replace("CLIENT", created["clientKey"])
    by_lane = await http.get(url, headers=headers)
    monkeypatch.setattr(_lane(app), "table", LaneTable({}, ()))
    by_router = await http.get(url, headers=headers)

    assert by_lane.status_code == by_router.status_code == status, by_lane.text
    assert _headers(by_lane) == _headers(by_router)
    assert by_lane.content == by_router.content


async def test_the_lane_never_reaches_the_router(
    app: FastAPI, client: dict[str, Any], http: httpx.AsyncClient
) -> None:
    reached: list[str] = []

    async def router(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])
        await Response(status_code=599)(scope, receive, send)

    lane = DirectLane(router, owner=app, table=_lane(app).table)
    transport = httpx.ASGITransport(app=lane)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as direct:
        token_answer = await direct.post(
            "/v3/oauth/token/generate",
            json={"key": client["clientKey"], "secret": client["clientSecret"]},
        )
        refused = await direct.post("/v3/oauth/token/generate", json={"key": "x", "secret": "y"})
        decided = await direct.post(
            "/v3/oauth/check", json={"token": _token_of(token_answer), **ALLOWED}
        )
        other = await direct.get("/v3/integrations/scopes")
        slash = await direct.post("/v3/oauth/check/", json={})
        wrong_method = await direct.put("/v3/oauth/check", json={})

    assert token_answer.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["code"] == InvalidClientCredentials.code
    assert decided.json()["data"]["allowed"] is True
    assert (other.status_code, slash.status_code, wrong_method.status_code) == (599, 599, 599)
    assert reached == ["/v3/integrations/scopes", "/v3/oauth/check/", "/v3/oauth/check"]


def _lane(app: FastAPI) -> DirectLane:
    lane = getattr(app, "lane", None)
    assert isinstance(lane, DirectLane), "the app has no direct lane"
    return lane


def test_the_hot_routes_are_declared_for_the_lane(app: FastAPI) -> None:
    table = _lane(app).table
    declared = {(method, route.path) for (method, _), route in table.exact.items()}
    declared |= {(method, route.path) for method, route in table.templated}
    assert declared == {
        ("POST", "/v3/oauth/token/generate"),
        ("POST", "/oauth2/token"),
        ("POST", "/oauth2/introspect"),
        ("POST", "/v3/oauth/check"),
        ("GET", "/v3/oauth/check"),
        ("GET", "/v3/integrations/clients"),
        ("GET", "/v3/integrations/clients/{clientKey}"),
    }


def test_no_framework_middleware_the_lane_would_skip(app: FastAPI) -> None:
    """The lane answers in front of the framework's middleware: any middleware there would
    silently miss the hot routes, so the app holds none, and adding one is refused."""
    assert app.user_middleware == []

    class Tagging:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

    with pytest.raises(LaneDeclarationError, match="Tagging would not see the direct lane"):
        app.add_middleware(Tagging)
    assert app.user_middleware == []


async def _ok(request: Request) -> Response:
    return Response(b"ok")


def _app_with(*routers: APIRouter) -> FastAPI:
    app = FastAPI()
    for router in routers:
        app.include_router(router)
    return app


def test_an_endpoint_with_dependencies_is_refused_at_build() -> None:
    router = APIRouter()

    @direct
    async def needs(request: Request, n: int = Depends(lambda: 1)) -> Response:
        return Response(str(n))

    router.add_api_route("/x", needs, methods=["POST"])
    with pytest.raises(LaneDeclarationError, match="must take only the request"):
        LaneTable.build(_app_with(router))


def test_an_unmarked_endpoint_stays_with_the_router() -> None:
    router = APIRouter()
    router.add_api_route("/x", _ok, methods=["POST"])
    assert len(LaneTable.build(_app_with(router))) == 0


@direct
async def _key_of(request: Request) -> Response:
    return Response(request.path_params["key"].encode())


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await Response(status_code=404)(scope, receive, send)


async def test_a_templated_endpoint_gets_its_path_parameters() -> None:
    router = APIRouter()
    router.add_api_route("/items/{key}", _key_of, methods=["GET"])
    owner = _app_with(router)
    lane = DirectLane(_not_found, owner=owner, table=LaneTable.build(owner))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url=BASE_URL) as c:
        one = await c.get("/items/abc")
        deeper = await c.get("/items/abc/def")
        other_method = await c.post("/items/abc")
    assert (one.status_code, one.content) == (200, b"abc")
    assert (deeper.status_code, other_method.status_code) == (404, 404)


def test_a_template_that_would_take_another_routes_path_is_refused_at_build() -> None:
    router = APIRouter()
    router.add_api_route("/items/{key}", _key_of, methods=["GET"])
    router.add_api_route("/items/export", _ok, methods=["GET"])
    with pytest.raises(LaneDeclarationError, match="would take GET /items/export from _ok"):
        LaneTable.build(_app_with(router))


async def test_a_bad_declaration_fails_the_app_at_creation(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A marked route that needs a dependency fails ``create_app``, not its first request."""

    @direct
    async def probe(request: Request, n: int = Depends(lambda: 1)) -> Response:
        return Response(str(n))

    router = APIRouter()
    router.add_api_route("/health/probe", probe, methods=["GET"])
    monkeypatch.setattr(health, "router", router)
    with pytest.raises(LaneDeclarationError, match="probe must take only the request"):
        create_app(runtime=runtime)
