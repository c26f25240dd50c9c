"""Client authentication at the token endpoints, as a registry of methods (RFC 6749 §2.3).

Each method is one module (``client_secret_basic``, ``client_secret_post``, the v3 body,
``private_key_jwt`` with its federated assertions, ``tls_client_auth``,
``self_signed_tls_client_auth``) and one line in ``METHODS`` below — but for the two mutual TLS
methods, whose requests look alike and which one entry (``certificate``) stands for, choosing
between them by the method the named client registered. An endpoint names its dialect; the
registry picks the one entry of that dialect whose credentials the request carries: none is
``invalid_client``, more than one ``invalid_request`` (§2.3: exactly one method per request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from keyloft.domain.errors import AssertionRefused, InvalidClientCredentials, KeyloftError
from keyloft.domain.governance import secret_expired
from keyloft.domain.oauth import InvalidClient, InvalidRequest
from keyloft.services.client_auth.certificate import MutualTls
from keyloft.services.client_auth.client_secret_basic import ClientSecretBasic
from keyloft.services.client_auth.client_secret_post import ClientSecretPost
from keyloft.services.client_auth.private_key_jwt import PrivateKeyJwt
from keyloft.services.client_auth.request import (
    AuthenticatedClient,
    ClientAuthMethod,
    ClientAuthRequest,
    SecretUpgrade,
)
from keyloft.services.client_auth.v3_key_secret import V3KeySecret
from keyloft.services.node import Node
from keyloft.services.ports import Store

__all__ = [
    "METHODS",
    "AuthenticatedClient",
    "ClientAuthMethod",
    "ClientAuthRequest",
    "SecretUpgrade",
    "authenticate",
    "method_names",
    "select",
]

log = logging.getLogger("keyloft.client_auth")

METHODS: tuple[ClientAuthMethod, ...] = (
    ClientSecretBasic(),
    ClientSecretPost(),
    V3KeySecret(),
    PrivateKeyJwt(),
    MutualTls(),  # tls_client_auth and self_signed_tls_client_auth
)


# Each token request asks for its dialect's methods: sorted out once, not per request.
_OF_DIALECT = {
    dialect: tuple(method for method in METHODS if dialect in method.dialects)
    for dialect in {dialect for method in METHODS for dialect in method.dialects}
}


def method_names(dialect: str) -> list[str]:
    """The methods a dialect's endpoints accept, as RFC 8414 metadata lists them."""
    return [name for method in _OF_DIALECT.get(dialect, ()) for name in method.names]


def select(
    request: ClientAuthRequest, dialect: str, methods: Sequence[ClientAuthMethod] | None = None
) -> ClientAuthMethod:
    """The one method of ``dialect`` (among ``methods``, by default the registry's) whose
    credentials ``request`` carries."""
    candidates = (
        _OF_DIALECT.get(dialect, ())
        if methods is None
        else [method for method in methods if dialect in method.dialects]
    )
    present = [method for method in candidates if method.present(request)]
    if len(present) == 1:
        return present[0]
    superseded = {name for method in present for name in method.supersedes}
    chosen = [method for method in present if method.name not in superseded]
    if not chosen:
        raise InvalidClient("Client authentication is required.")
    if len(chosen) > 1:
        raise InvalidRequest("Use exactly one client authentication method.")
    return chosen[0]


def _governance_refusal(
    authenticated: AuthenticatedClient, request: ClientAuthRequest, node: Node
) -> str | None:
    client = authenticated.state.client
    if not client.governance.allows(request.address):
        return "address"
    secret_used = client.has_secret and authenticated.credential is None
    if secret_used and secret_expired(client.secret_expires_at, node.clock.now()):
        return "secret_expired"
    return None


# What a client whose credentials are wrong is told, where it is not the v3 API's own
# "Invalid client key or secret.": RFC 6749 §5.2's invalid_client.
_REFUSALS: dict[str, Callable[[], KeyloftError]] = {"oauth2": InvalidClient}


async def authenticate(
    request: ClientAuthRequest, dialect: str, node: Node, store: Store
) -> AuthenticatedClient:
    """The client ``request`` proves, by the one method of ``dialect`` it uses."""
    method = select(request, dialect)
    try:
        authenticated = await method.authenticate(request, node, store)
        reason = _governance_refusal(authenticated, request, node)
        if reason is not None:
            # Governance (docs/governance.md): the right credentials, but from an address the
            # client's allow-list does not hold, or an expired secret. Logged and counted,
            # told as a wrong secret.
            client_key = authenticated.state.client.client_key
            log.info("token request refused", extra={"reason": reason, "client_id": client_key})
            raise AssertionRefused(reason)
        return authenticated
    except InvalidClientCredentials as failed:
        refusal = _REFUSALS.get(dialect)
        if refusal is None:
            raise
        named = refusal()
        named.reason = getattr(failed, "reason", None)  # for the metrics, never the caller
        raise named from None
