"""Mutual TLS client authentication (RFC 8705 §2): one entry of the registry standing for both
``tls_client_auth`` (§2.1) and ``self_signed_tls_client_auth`` (§2.2).

Their requests look the same: a client certificate from the trusted TLS terminator
(``ClientAuthRequest.certificate``), the client named (``client_id``, or the v3 ``key``) and
no other credential. Which method applies is the one the named client registered, known only
once it is loaded: this entry loads it, under the attempt guard, and asks that method's module
to ``check`` the certificate. A client registered with any other method is refused like a
wrong credential (``invalid_client``, reason ``method``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from keyloft.domain.certificates import ClientCertificate
from keyloft.domain.clients import SELF_SIGNED_TLS, TLS_CLIENT_AUTH, Client
from keyloft.services.client_auth import self_signed_tls_client_auth, tls_client_auth
from keyloft.services.client_auth.assertion import refuse
from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_states import ClientStates
from keyloft.services.node import Node
from keyloft.services.ports import Store

CertificateCheck = Callable[[ClientCertificate, Client, Node], str]
"""A method's check of the certificate for the client: the credential that proved it."""

CHECKS: dict[str, CertificateCheck] = {
    TLS_CLIENT_AUTH: tls_client_auth.check,
    SELF_SIGNED_TLS: self_signed_tls_client_auth.check,
}

# Parameters of the other methods: a request carrying any of them is not this entry's.
_OTHER_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type", "secret")


class MutualTls:
    name: ClassVar[str] = "mutual_tls"
    names: ClassVar[tuple[str, ...]] = tuple(CHECKS)
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
            method = state.client.auth_method
            check = CHECKS.get(method)
            if check is None:
                raise refuse("method", client_key)
            credential = check(certificate, state.client, node)
        return AuthenticatedClient(state, method, credential=credential)
