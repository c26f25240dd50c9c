"""``self_signed_tls_client_auth`` (RFC 8705 §2.2): the client proves itself by the TLS
certificate it connects with, which it registered in its ``jwks`` (by ``x5c``/``x5t#S256`` or
by its public key); the request names the client (``client_id``, or the v3 ``key``) and sends
no other credential. The certificate comes from the trusted TLS terminator
(``ClientAuthRequest.certificate``)."""

from __future__ import annotations

from typing import ClassVar

from keyloft.domain.certificates import matching_key
from keyloft.domain.clients import SELF_SIGNED_TLS
from keyloft.services.client_auth.assertion import refuse
from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_states import ClientStates
from keyloft.services.node import Node
from keyloft.services.ports import Store

# Parameters of the other methods: a request carrying any of them is not this method's.
_OTHER_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type", "secret")


class SelfSignedTlsClientAuth:
    name: ClassVar[str] = SELF_SIGNED_TLS
    dialects: ClassVar[frozenset[str]] = frozenset({"oauth2", "v3"})
    # Its requests name the client, which alone looks like the form post.
    supersedes: ClassVar[frozenset[str]] = frozenset({"client_secret_post"})

    def present(self, request: ClientAuthRequest) -> bool:
        params = request.params
        return (
            request.certificate is not None
            and request.authorization is None
            and ("client_id" in params or "key" in params)
            and not any(name in params for name in _OTHER_CREDENTIALS)
            and "assertion" not in params
        )

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient:
        certificate = request.certificate
        client_key = request.params.get("client_id") or request.params.get("key") or ""
        assert certificate is not None  # present() said so
        guard = node.guard
        async with guard.attempt(guard.subjects("client", client_key, request.address)):
            state = await ClientStates(store, node.cache).by_key(client_key)
            if state is None or not state.client.is_valid:
                raise refuse("unknown_client", client_key)
            if state.client.auth_method != SELF_SIGNED_TLS:
                raise refuse("method", client_key)
            key = matching_key(certificate, state.client.credentials.jwks)
            if key is None:
                raise refuse("certificate", client_key)
        return AuthenticatedClient(state, self.name, credential=f"key:{key.thumbprint}")
