"""The port through which services reach a running node's parts.

A node (``keyloft.runtime.Runtime``) owns long-lived parts that change while it runs: the key
ring is reloaded when keys rotate, and tests move the clock or swap the database. Services
hold the node and read its parts at each call, so they never keep a stale copy.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from keyloft.domain.certificate_trust import ClientCertificateTrust
    from keyloft.domain.credentials import SecretHasher
    from keyloft.domain.signing import KeyRing
    from keyloft.services.dpop import DpopNonces
    from keyloft.services.guard import AttemptGuard
    from keyloft.services.key_sets import RemoteKeySets
    from keyloft.services.login_cache import LoginCache
    from keyloft.services.mint_limits import MintLimits
    from keyloft.services.ports import ClientCache, Clock, ReplayGuard, RevocationView, Store
    from keyloft.services.usage import UsageLog
    from keyloft.services.verified_tokens import VerifiedTokens


class Node(Protocol):
    @property
    def clock(self) -> Clock: ...
    @property
    def key_ring(self) -> KeyRing: ...
    @property
    def hasher(self) -> SecretHasher: ...
    @property
    def cache(self) -> ClientCache: ...
    @property
    def revoked(self) -> RevocationView: ...
    @property
    def guard(self) -> AttemptGuard: ...
    @property
    def logins(self) -> LoginCache: ...
    @property
    def usage(self) -> UsageLog: ...
    @property
    def mint_limits(self) -> MintLimits:
        """Clients' mint limits (``tokenRateLimit``) and the hits not yet written."""

    @property
    def verified_tokens(self) -> VerifiedTokens: ...
    @property
    def key_sets(self) -> RemoteKeySets:
        """Public keys other servers hold (client key set URLs, federated issuers)."""

    @property
    def dpop_nonces(self) -> DpopNonces | None:
        """The server's DPoP nonces, when the deployment requires them; None otherwise."""

    @property
    def client_trust(self) -> ClientCertificateTrust | None:
        """The CA certificates a tls_client_auth client's certificate must chain to
        (KEYLOFT_CLIENT_CA_CERTS); None when the deployment has none."""

    @property
    def replays(self) -> ReplayGuard:
        """Single use of client assertions across every node."""

    @property
    def federation_allow_http(self) -> bool:
        """Whether client key set URLs and federated issuers may be http:// and private
        addresses (development and tests only)."""

    @property
    def issuer(self) -> str:
        """The ``iss`` of this deployment's tokens."""

    @property
    def audience(self) -> str:
        """The ``aud`` of this deployment's RFC 9068 tokens."""

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Store]:
        """One unit of work, begun at its first query: committed when the block ends (and
        what it changed announced to every node), rolled back when it raises."""
