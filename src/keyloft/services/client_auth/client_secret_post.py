"""``client_secret_post`` (RFC 6749 §2.3.1): ``client_id`` and ``client_secret`` in the form."""

from __future__ import annotations

from typing import ClassVar

from keyloft.domain.oauth import InvalidClient
from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_auth.secret import verify_secret
from keyloft.services.node import Node
from keyloft.services.ports import Store


class ClientSecretPost:
    name: ClassVar[str] = "client_secret_post"
    names: ClassVar[tuple[str, ...]] = ("client_secret_post",)
    dialects: ClassVar[frozenset[str]] = frozenset({"oauth2"})
    supersedes: ClassVar[frozenset[str]] = frozenset()

    def present(self, request: ClientAuthRequest) -> bool:
        return "client_id" in request.params or "client_secret" in request.params

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient:
        client_id = request.params.get("client_id", "")
        secret = request.params.get("client_secret", "")
        if not client_id or not secret:
            raise InvalidClient()
        return await verify_secret(
            node, store, client_id, secret, method=self.name, address=request.address
        )
