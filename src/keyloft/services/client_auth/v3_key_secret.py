"""The v3 token call's own method: ``{"key", "secret"}`` in a JSON body (not an RFC 6749
method; the v3 answer calls a failure "Invalid client key or secret.")."""

from __future__ import annotations

from typing import ClassVar

from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_auth.secret import verify_secret
from keyloft.services.node import Node
from keyloft.services.ports import Store


class V3KeySecret:
    name: ClassVar[str] = "v3_key_secret"
    names: ClassVar[tuple[str, ...]] = ("v3_key_secret",)
    dialects: ClassVar[frozenset[str]] = frozenset({"v3"})
    supersedes: ClassVar[frozenset[str]] = frozenset()

    def present(self, request: ClientAuthRequest) -> bool:
        return "key" in request.params and "secret" in request.params

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient:
        return await verify_secret(
            node,
            store,
            request.params["key"],
            request.params["secret"],
            method=self.name,
            address=request.address,
        )
