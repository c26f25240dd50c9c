"""The gateway decision point: may this token make this call, and who is it?"""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import InvalidToken
from keyloft.domain.scopes import decide
from keyloft.domain.usage import ALLOWED, DENIED
from keyloft.services.dpop import BEARER_PRESENTATION, Presentation, check_binding
from keyloft.services.node import Node
from keyloft.services.token_inspection import TokenInspector


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    client_key: str | None = None
    org_id: int | None = None
    till_id: int | None = None
    nonce: str | None = None
    """The DPoP nonce the caller's next proof must carry (``use_dpop_nonce``)."""
    dpop: bool = False
    """The token came, or had to come, with a DPoP proof: the refusal's challenge is DPoP."""


class DecisionPoint:
    def __init__(self, node: Node, inspector: TokenInspector) -> None:
        self._node = node
        self._inspector = inspector

    async def decide(
        self,
        token: str,
        method: str,
        path: str,
        *,
        till_type: str | None = None,
        till_code: str | None = None,
        presentation: Presentation = BEARER_PRESENTATION,
    ) -> Decision:
        """Never raises for a bad token: the answer says why it is refused. The Till is the
        client's default unless the attribution names another of its org's."""
        async with self._node.transaction(write=False) as store:
            try:
                context = await self._inspector.inspect(store, token)
                await check_binding(self._node, context.claims, token, presentation)
            except InvalidToken as refused:
                if refused.dpop and refused.dpop_error != "invalid_token":
                    return Decision(False, refused.dpop_error, nonce=refused.nonce, dpop=True)
                return Decision(False, "invalid_token", dpop=refused.dpop)
            state = context.state
            client = state.client
            till = state.default_till
            if till_type is not None or till_code is not None:
                till = None
                if (till_type or "").upper() == PrincipalKind.TILL.value and till_code:
                    till = await store.principals.find_in_org(
                        client.org_id, till_code, PrincipalKind.TILL
                    )
        counts = self._node.usage.counts
        if till is None:
            counts.add(client.org_id, client.id, self._node.clock.now(), DENIED)
            return Decision(False, "unknown_till", client.client_key, client.org_id)
        decision = decide(state.entities, context.grants, method, path)
        counts.add(
            client.org_id,
            client.id,
            self._node.clock.now(),
            ALLOWED if decision.allowed else DENIED,
        )
        return Decision(
            decision.allowed, decision.reason, client.client_key, client.org_id, till.id
        )
