"""A live Keyloft over real HTTP, as independent client libraries see it."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.api import OrgFixture


@dataclass(frozen=True)
class LiveServer:
    url: str
    org: OrgFixture
    client_key: str
    client_secret: str

    @property
    def issuer(self) -> str:
        return self.url
