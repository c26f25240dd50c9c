"""SQL repositories, one module per port of ``keyloft.services.ports``; each works inside the
``AsyncSession`` of one unit of work (``keyloft.storage.store``), which also turns driver
errors into Keyloft's store failures."""

from keyloft.storage.repositories.audit import SqlAudit
from keyloft.storage.repositories.clients import SqlClients
from keyloft.storage.repositories.orgs import SqlOrgs
from keyloft.storage.repositories.principals import SqlPrincipals
from keyloft.storage.repositories.registrations import SqlRegistrations
from keyloft.storage.repositories.revocations import SqlRevocations
from keyloft.storage.repositories.scopes import SqlScopes
from keyloft.storage.repositories.signing_keys import SqlSigningKeys
from keyloft.storage.repositories.usage import SqlUsage
from keyloft.storage.repositories.used_assertions import SqlUsedAssertions

__all__ = [
    "SqlAudit",
    "SqlClients",
    "SqlOrgs",
    "SqlPrincipals",
    "SqlRegistrations",
    "SqlRevocations",
    "SqlScopes",
    "SqlSigningKeys",
    "SqlUsage",
    "SqlUsedAssertions",
]
