"""A store whose audit trail names the operator: for running the client use cases, which
record each change as made by the principal they act as, from the command line, where an
operator acts. The client's own attribution (``createdBy``, ``lastUpdatedBy``) still names
that principal; only the audit events change hands, to ``user@host``, with the command's
request id."""

from __future__ import annotations

from keyloft.domain.audit import AuditEvent, Operator
from keyloft.services.ports import (
    AuditQuery,
    AuditRepository,
    Changes,
    ClientRepository,
    OrgRepository,
    PrincipalRepository,
    RegistrationRepository,
    RevocationRepository,
    ScopeRepository,
    SigningKeyRepository,
    Store,
    UsageRepository,
    UsedAssertionRepository,
    WebhookRepository,
)


class _OperatorAudit:
    """Implements ``AuditRepository``: every event added is the operator's."""

    def __init__(self, audit: AuditRepository, operator: Operator) -> None:
        self._audit = audit
        self._operator = operator

    async def add(self, event: AuditEvent) -> None:
        await self._audit.add(
            self._operator.event(
                org_id=event.org_id,
                at=event.at,
                action=event.action,
                target_type=event.target_type,
                target=event.target,
                changes=event.changes,
            )
        )

    async def find(self, query: AuditQuery) -> list[AuditEvent]:
        return await self._audit.find(query)


class OperatorAttributed:
    """Implements ``Store``: ``store`` with its audit events attributed to ``operator``."""

    def __init__(self, store: Store, operator: Operator) -> None:
        self._store = store
        self._audit = _OperatorAudit(store.audit, operator)

    @property
    def changes(self) -> Changes:
        return self._store.changes

    @property
    def orgs(self) -> OrgRepository:
        return self._store.orgs

    @property
    def principals(self) -> PrincipalRepository:
        return self._store.principals

    @property
    def scopes(self) -> ScopeRepository:
        return self._store.scopes

    @property
    def clients(self) -> ClientRepository:
        return self._store.clients

    @property
    def keys(self) -> SigningKeyRepository:
        return self._store.keys

    @property
    def revocations(self) -> RevocationRepository:
        return self._store.revocations

    @property
    def audit(self) -> AuditRepository:
        return self._audit

    @property
    def used_assertions(self) -> UsedAssertionRepository:
        return self._store.used_assertions

    @property
    def registrations(self) -> RegistrationRepository:
        return self._store.registrations

    @property
    def usage(self) -> UsageRepository:
        return self._store.usage

    @property
    def webhooks(self) -> WebhookRepository:
        return self._store.webhooks
