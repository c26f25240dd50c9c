"""A webhook receiver for tests: a real HTTP server whose answers follow a script (fail with
500, hang until the client gives up or the server stops, or accept), recording every message
it read; and creating a webhook through the API."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import httpx

from tests.support.api import OrgFixture
from tests.support.http_server import Exchange, LocalServer, Seen

WEBHOOKS = "/v3/integrations/webhooks"
ALL_CLIENT_EVENTS = [
    "client.created",
    "client.updated",
    "client.deleted",
    "client.secret.rotated",
    "client.credential.added",
    "client.credential.removed",
]


class Receiver:
    """``with Receiver(["fail", "hang"]) as receiver:`` answers the first message 500, hangs on
    the second, and accepts (204) every one after the script ends."""

    def __init__(self, script: Iterable[str] = ()) -> None:
        self.script = list(script)
        self._lock = threading.Lock()
        self.server = LocalServer({"/hook": self._route})
        self.hanging = threading.Event()

    @property
    def url(self) -> str:
        return self.server.url("/hook")

    @property
    def messages(self) -> list[Seen]:
        with self.server._lock:
            return [seen for seen in self.server.requests if seen.method == "POST"]

    def ids(self) -> list[str]:
        return [seen.headers["webhook-id"] for seen in self.messages]

    def _route(self, exchange: Exchange) -> None:
        with self._lock:
            mode = self.script.pop(0) if self.script else "ok"
        if mode == "fail":
            exchange.reply(500, b"broken")
        elif mode == "hang":
            self.hanging.set()
            exchange.pause(60)
        else:
            exchange.reply(204)

    def __enter__(self) -> Receiver:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(None, None, None)


async def create_webhook(
    http: httpx.AsyncClient, org: OrgFixture, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    answer = await http.post(
        WEBHOOKS,
        json={"url": url, "events": events or ALL_CLIENT_EVENTS, "description": "test"},
        headers=org.auth,
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def deliveries(
    http: httpx.AsyncClient, org: OrgFixture, webhook_id: int
) -> list[dict[str, Any]]:
    answer = await http.get(f"{WEBHOOKS}/{webhook_id}/deliveries", headers=org.auth)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["data"]["deliveries"]
    return found
