"""``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9): the client signs a short-lived
JWT with a key it keeps, whose public half it registered (``jwks``) or serves (``jwksUri``);
or it presents a token of an issuer one of its federated credentials trusts (``federated``).

Its own assertion has ``iss`` = ``sub`` = its client key, is meant for this server (``aud``:
the issuer or a token endpoint), expires within five minutes and is used once on every node
(``jti``). Any other ``iss`` is read as a federated assertion, and then the request must name
the client (``client_id``, or the v3 ``key``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from keyloft.domain.client_keys import ClientKey
from keyloft.domain.clients import PRIVATE_KEY_JWT, Client
from keyloft.services.client_auth import assertion as assertions
from keyloft.services.client_auth import federated
from keyloft.services.client_auth.assertion import Assertion, refuse
from keyloft.services.client_auth.request import AuthenticatedClient, ClientAuthRequest
from keyloft.services.client_states import ClientStates
from keyloft.services.node import Node
from keyloft.services.ports import RemoteFetchFailed, Store

MAX_LIFETIME = 300
# The endpoints an assertion may name as its audience besides the issuer: the token
# endpoints, and the other endpoints that take client authentication (libraries such as
# requests-oauth2client address an assertion to the endpoint they call).
ENDPOINTS = ("/oauth2/token", "/v3/oauth/token/generate", "/oauth2/introspect", "/oauth2/revoke")


class PrivateKeyJwt:
    name: ClassVar[str] = PRIVATE_KEY_JWT
    names: ClassVar[tuple[str, ...]] = (PRIVATE_KEY_JWT,)
    dialects: ClassVar[frozenset[str]] = frozenset({"oauth2", "v3"})
    # Its requests may name the client (client_id), which alone looks like the form post.
    supersedes: ClassVar[frozenset[str]] = frozenset({"client_secret_post"})

    def present(self, request: ClientAuthRequest) -> bool:
        return assertions.present(request.params)

    async def authenticate(
        self, request: ClientAuthRequest, node: Node, store: Store
    ) -> AuthenticatedClient:
        assertion = assertions.read(request)
        issuer, subject = assertion.claims.get("iss"), assertion.claims.get("sub")
        named = assertion.named_client
        own = isinstance(issuer, str) and issuer == subject
        client_key = named or (issuer if own else None)
        if not isinstance(client_key, str) or not client_key:
            raise refuse("no_client")
        guard = node.guard
        async with guard.attempt(guard.subjects("client", client_key, request.address)):
            state = await ClientStates(store, node.cache).by_key(client_key)
            if state is None or not state.client.is_valid:
                raise refuse("unknown_client", client_key)
            client = state.client
            if client.auth_method != PRIVATE_KEY_JWT:
                raise refuse("method", client_key)
            if issuer == client_key:
                if subject != client_key:
                    raise refuse("subject", client_key)
                credential = "key:" + await self._own(assertion, client, node)
            else:
                credential = "federated:" + await federated.verify(assertion, client, node)
        return AuthenticatedClient(state, self.name, credential=credential)

    async def _own(self, assertion: Assertion, client: Client, node: Node) -> str:
        """The thumbprint of the client's key that signed its own assertion."""
        key = client.client_key
        keys: tuple[ClientKey, ...] = client.credentials.jwks
        uri = client.credentials.jwks_uri
        if uri is not None and not (
            keys and assertions.candidates(keys, assertion.kid, assertion.algorithm)
        ):
            try:
                keys = keys + await node.key_sets.client_keys(key, uri, assertion.kid)
            except RemoteFetchFailed as failed:
                raise refuse(f"jwks_uri_{failed.reason}", key) from None
        claims, signer = assertions.verify_signature(assertion, keys, key)
        base = node.issuer.rstrip("/")
        accepted = (node.issuer, base, *(base + path for path in ENDPOINTS))
        if not assertions.audience_includes(claims, accepted):
            raise refuse("audience", key)
        now = node.clock.now().timestamp()
        expires = assertions.check_times(claims, now, key, max_lifetime=MAX_LIFETIME)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= assertions.MAX_JTI:
            raise refuse("no_jti", key)
        until = datetime.fromtimestamp(expires + assertions.SKEW, UTC)
        if not await node.replays.first_use(assertions.replay_key(client.id, jti), until):
            raise refuse("replayed", key)
        return signer.thumbprint
