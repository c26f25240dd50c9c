"""The gateway decision point: may this token make this call, and who is it?"""

from __future__ import annotations

from dataclasses import dataclass

from keyloft.domain.actors import PrincipalKind
from keyloft.domain.errors import InvalidToken
from keyloft.domain.scopes import decide
from keyloft.services.inspect import TokenInspector
from keyloft.services.ports import Store


@dataclass(frozen=True, slots=True)
class CheckResult:
    allowed: bool
    reason: str
    client_key: str | None = None
    org_id: int | None = None
    till_id: int | None = None

    @property
    def authenticated(self) -> bool:
        return self.client_key is not None


class CheckService:
    def __init__(self, store: Store, inspector: TokenInspector) -> None:
        self._store = store
        self._inspector = inspector

    async def check(
        self,
        token: str,
        method: str,
        path: str,
        *,
        till_type: str | None = None,
        till_code: str | None = None,
    ) -> CheckResult:
        """Never raises for a bad token: the answer says why it is refused."""
        try:
            context = await self._inspector.inspect(token)
        except InvalidToken:
            return CheckResult(False, "invalid_token")
        state = context.state
        client = state.client
        till = state.default_till
        if till_type is not None or till_code is not None:
            till = None
            if (till_type or "").upper() == PrincipalKind.TILL.value and till_code:
                till = await self._store.principals.find_in_org(
                    client.org_id, till_code, PrincipalKind.TILL
                )
        who = {"client_key": client.client_key, "org_id": client.org_id}
        if till is None:
            return CheckResult(False, "unknown_till", **who)
        decision = decide(state.entities, context.grants, method, path)
        return CheckResult(decision.allowed, decision.reason, till_id=till.id, **who)
