"""Token issuance: one pipeline for every token endpoint.

    check the grant  ->  authenticate the client  ->  grant the scope  ->  bind (a DPoP key,
    a TLS certificate)  ->  limit the mints  ->  mint  ->  note the use

``V3`` (``POST /v3/oauth/token/generate``) and ``OAUTH2`` (``POST /oauth2/token``, RFC 6749
§4.4 client credentials with RFC 9068 tokens) differ only in their dialect: which client
authentication methods they accept (and so how a failed one is named), whether ``scope``
narrows the token, and the claims minted. Each step is a method named after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keyloft.domain.clients import Client
from keyloft.domain.errors import KeyloftError
from keyloft.domain.oauth import InvalidDpopProof, InvalidRequest, UnsupportedGrantType, narrow
from keyloft.domain.oauth import scope_string as scope_of
from keyloft.domain.scopes import Grant, ScopeEntity
from keyloft.domain.tokens import access_claims, oauth_access_claims
from keyloft.domain.usage import AUTH_FAILURES, TOKENS
from keyloft.services import client_auth
from keyloft.services.client_auth import AuthenticatedClient, ClientAuthRequest
from keyloft.services.dpop import check_request_proof
from keyloft.services.node import Node
from keyloft.services.usage_counts import failed_client, failure_reason

CLIENT_CREDENTIALS = "client_credentials"
BEARER, DPOP = "Bearer", "DPoP"  # RFC 6750, RFC 9449 token types


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    """The client authentication methods' dialect (``client_auth``)."""
    grant_type_required: bool
    narrows_scope: bool
    typ: str | None
    """The JWT ``typ`` of its tokens (None: the default ``JWT``)."""


V3 = Dialect("v3", False, False, None)
OAUTH2 = Dialect("oauth2", True, True, "at+jwt")


# Made for each request: plain slotted dataclasses, cheaper to build than frozen ones.
@dataclass(slots=True)
class TokenRequest:
    client: ClientAuthRequest
    grant_type: str | None = None
    scope: str | None = None
    dpop: tuple[str, ...] = ()
    """The request's ``DPoP`` header values (RFC 9449): a proof binds the token to its key."""
    url: str = ""
    """The endpoint's public URL, which a proof's ``htu`` must name."""


@dataclass(slots=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    """The granted scope string (RFC 6749 §5.1); empty for v3 tokens."""
    client: Client
    token_type: str = BEARER
    """``DPoP`` for a token bound to a DPoP key (RFC 9449 §5)."""


class TokenIssuance:
    def __init__(self, node: Node) -> None:
        self._node = node

    async def issue(self, request: TokenRequest, dialect: Dialect) -> IssuedToken:
        self.check_grant(request, dialect)
        try:
            authenticated = await self.authenticate(request.client, dialect)
        except KeyloftError as failed:
            self.note_failure(failed_client(failed), failed)
            raise
        state = authenticated.state
        try:
            grants = self.grant_scope(state.client, state.entities, request.scope, dialect)
            confirmation = await self.bind(request, state.client)
        except KeyloftError as failed:
            self.note_failure((state.client.org_id, state.client.id), failed)
            raise
        now = self._node.clock.now()
        await self.limit_mints(state.client, now)
        token, scope = self.mint(state.client, state.entities, grants, dialect, now, confirmation)
        await self.note_use(authenticated, now)
        return IssuedToken(
            token,
            state.client.expiration_token_time,
            scope,
            state.client,
            DPOP if "jkt" in confirmation else BEARER,
        )

    def check_grant(self, request: TokenRequest, dialect: Dialect) -> None:
        """RFC 6749 §4.4.2: ``grant_type`` must be ``client_credentials``."""
        if not dialect.grant_type_required:
            return
        if not request.grant_type:
            raise InvalidRequest("grant_type is required.")
        if request.grant_type != CLIENT_CREDENTIALS:
            raise UnsupportedGrantType(f"Only {CLIENT_CREDENTIALS} is supported.")

    async def authenticate(
        self, request: ClientAuthRequest, dialect: Dialect
    ) -> AuthenticatedClient:
        """RFC 6749 §2.3 by the one method the request uses; in a read transaction of its
        own, begun only if the node's caches cannot answer."""
        async with self._node.transaction(write=False) as store:
            return await client_auth.authenticate(request, dialect.name, self._node, store)

    def grant_scope(
        self,
        client: Client,
        entities: Sequence[ScopeEntity],
        scope: str | None,
        dialect: Dialect,
    ) -> tuple[Grant, ...]:
        """RFC 6749 §3.3: a requested scope narrows what the client holds, never widens it."""
        if not dialect.narrows_scope:
            return tuple(client.grants)
        return narrow(client.grants, entities, scope)

    async def bind(self, request: TokenRequest, client: Client) -> dict[str, str]:
        """The token's confirmation (``cnf``, RFC 7800): with a DPoP proof, the thumbprint of
        its key (``jkt``, RFC 9449 §5; a client whose tokens must be DPoP-bound needs one);
        for a client whose tokens are certificate-bound, its TLS certificate's ``x5t#S256``
        (RFC 8705 §3). Empty for a bearer token."""
        confirmation: dict[str, str] = {}
        if client.certificate_bound:
            certificate = request.client.certificate
            if certificate is None:
                raise InvalidRequest(
                    "This client's tokens are bound to its TLS certificate: connect with it."
                )
            confirmation["x5t#S256"] = certificate.x5t_s256
        if not request.dpop:
            if client.dpop_bound:
                raise InvalidDpopProof("missing", "This client's tokens must be DPoP-bound.")
            return confirmation
        proof = await check_request_proof(self._node, request.dpop, method="POST", url=request.url)
        confirmation["jkt"] = proof.jkt
        return confirmation

    async def limit_mints(self, client: Client, now: datetime) -> None:
        """A client's ``tokenRateLimit`` (docs/governance.md): 429 beyond it this minute."""
        await self._node.mint_limits.take(client, now)

    def mint(
        self,
        client: Client,
        entities: Sequence[ScopeEntity],
        grants: tuple[Grant, ...],
        dialect: Dialect,
        now: datetime,
        confirmation: dict[str, str] | None = None,
    ) -> tuple[str, str]:
        """The signed token and its scope string; bound as ``confirmation`` says (``cnf``)."""
        node = self._node
        if not dialect.narrows_scope:
            claims = access_claims(issuer=node.issuer, client=client, entities=entities, now=now)
            if confirmation:
                claims["cnf"] = confirmation
            return node.key_ring.sign(claims), ""
        scope = scope_of(grants, entities)
        claims = oauth_access_claims(
            issuer=node.issuer,
            audience=node.audience,
            client=client,
            grants=grants,
            scope=scope,
            entities=entities,
            now=now,
        )
        if confirmation:
            claims["cnf"] = confirmation
        return node.key_ring.sign(claims, typ=dialect.typ), scope

    def note_failure(self, client: tuple[int, int] | None, failed: KeyloftError) -> None:
        """Count a refused request against the existing client it named (an unknown client
        is counted nowhere: only the metrics see it)."""
        if client is not None:
            org_id, client_id = client
            self._node.usage.counts.add(
                org_id, client_id, self._node.clock.now(), AUTH_FAILURES, failure_reason(failed)
            )

    async def note_use(self, authenticated: AuthenticatedClient, at: datetime) -> None:
        """Note the client's use (written later, in a batch) and store a secret re-hashed
        under the current server secret (during a server-secret rotation)."""
        client = authenticated.state.client
        usage = self._node.usage
        usage.note(client.id, at)
        usage.counts.add(client.org_id, client.id, at, TOKENS)
        if authenticated.credential is not None:
            usage.note_credential(client.id, authenticated.credential, at)
        upgrade = authenticated.upgrade
        if upgrade is not None:
            async with self._node.transaction(write=True) as store:
                await store.clients.set_secret_hash(
                    client.id, upgrade.secret_hash, replacing=upgrade.replaces
                )
