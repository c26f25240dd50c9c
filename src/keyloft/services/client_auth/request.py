"""What a client authentication method reads and what it answers (RFC 6749 §2.3).

A method reads a ``ClientAuthRequest`` — the token endpoint's request as plain values, free of
any web framework — and answers an ``AuthenticatedClient``, or raises a typed failure:
``InvalidRequest``/``InvalidClient`` for credentials that are malformed or missing, and
``InvalidClientCredentials`` (counted by the attempt guard) for credentials that are wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from keyloft.domain.certificates import ClientCertificate
from keyloft.services.node import Node
from keyloft.services.ports import ClientState, Store


# Made for each request: plain slotted dataclasses, cheaper to build than frozen ones.
@dataclass(slots=True, repr=False)
class ClientAuthRequest:
    """``params``: the form's parameters (RFC 6749), or the v3 body's ``key`` and ``secret``."""

    params: Mapping[str, str]
    authorization: str | None = None
    address: str | None = None
    certificate: ClientCertificate | None = None
    """The client's TLS certificate (RFC 8705), as the trusted TLS terminator passed it."""

    def __repr__(self) -> str:  # parameters may hold a secret
        return f"ClientAuthRequest(params={sorted(self.params)!r}, address={self.address!r})"


@dataclass(frozen=True, slots=True)
class SecretUpgrade:
    """A secret that matched its hash under a retired server secret, hashed anew under the
    current one; stored only while ``replaces`` is still the stored hash."""

    secret_hash: str
    replaces: str


@dataclass(slots=True)
class AuthenticatedClient:
    state: ClientState
    method: str
    upgrade: SecretUpgrade | None = field(default=None)
    credential: str | None = None
    """Which of the client's credentials proved it, when it has several (``key:<thumbprint>``,
    ``federated:<rule name>``); None for its secret."""


class ClientAuthMethod(Protocol):
    """One way for a client to prove who it is at a token endpoint.

    ``name`` names it in the registry; ``names`` are the RFC 7591
    ``token_endpoint_auth_method`` values it stands for, as RFC 8414 metadata lists them (its
    name alone, but for an entry standing for several methods whose requests look alike);
    ``dialects`` the endpoints that accept it (``oauth2``: the RFC 6749 endpoints; ``v3``: the
    v3 token call); ``supersedes`` the methods whose parameters its own requests also carry, so
    that only it is chosen when both look present."""

    name: ClassVar[str]
    names: ClassVar[tuple[str, ...]]
    dialects: ClassVar[frozenset[str]]
    supersedes: ClassVar[frozenset[str]]

    def present(self, request: ClientAuthRequest) -> bool:
        """Whether the request carries this method's credentials (it may raise
        ``InvalidClient`` for credentials of a form no method accepts)."""

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient: ...
