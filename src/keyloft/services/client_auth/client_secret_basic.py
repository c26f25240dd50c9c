"""``client_secret_basic`` (RFC 6749 §2.3.1): the client id and secret in HTTP Basic, each
form-urlencoded before they are joined (Appendix B)."""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar
from urllib.parse import unquote_plus

from keyloft.domain.oauth import InvalidClient, InvalidRequest
from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_auth.secret import verify_secret
from keyloft.services.node import Node
from keyloft.services.ports import Store


class ClientSecretBasic:
    name: ClassVar[str] = "client_secret_basic"
    names: ClassVar[tuple[str, ...]] = ("client_secret_basic",)
    dialects: ClassVar[frozenset[str]] = frozenset({"oauth2"})
    supersedes: ClassVar[frozenset[str]] = frozenset()

    def present(self, request: ClientAuthRequest) -> bool:
        if request.authorization is None:
            return False
        scheme = request.authorization.partition(" ")[0]
        if scheme.lower() != "basic":
            raise InvalidClient("Authenticate the client with Basic or in the body.")
        return True

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient:
        client_id, secret = _decode(request.authorization or "")
        if not client_id or not secret:
            raise InvalidClient()
        return await verify_secret(
            node, store, client_id, secret, method=self.name, address=request.address
        )


def _decode(authorization: str) -> tuple[str, str]:
    value = authorization.partition(" ")[2]
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("Malformed Basic credentials.") from None
    raw_id, colon, raw_secret = decoded.partition(":")
    if not colon:
        raise InvalidRequest("Malformed Basic credentials.")
    return unquote_plus(raw_id), unquote_plus(raw_secret)
