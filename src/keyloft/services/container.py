"""Where services are built. ``Services``: every use case of a node, built once when the node
starts and shared by the API and the console (``Runtime.services``); each reads the node's
parts at each call. ``operator_services``: an operator's use cases at the command line, in
one unit of work."""

from __future__ import annotations

from keyloft.domain.audit import Operator
from keyloft.domain.signing import THIRTY_DAYS
from keyloft.services.audit import AuditService
from keyloft.services.callers import CallerAuthentication
from keyloft.services.client_admin import ClientAdministration
from keyloft.services.console_views import ConsoleViews
from keyloft.services.decisions import DecisionPoint
from keyloft.services.introspection import Introspection
from keyloft.services.node import Node
from keyloft.services.operators import OperatorServices, SigningKeyAdministration
from keyloft.services.org_settings import OrgSettings
from keyloft.services.orgs import OrgService
from keyloft.services.own_password import OwnPassword
from keyloft.services.ports import Clock, Store
from keyloft.services.principals import PrincipalAdministration
from keyloft.services.registration import ClientRegistration
from keyloft.services.token_inspection import TokenInspector
from keyloft.services.token_issuance import TokenIssuance
from keyloft.services.usage_reports import UsageReports


class Services:
    __slots__ = (
        "callers",
        "clients",
        "console",
        "decisions",
        "introspection",
        "own_password",
        "registrations",
        "tokens",
        "usage",
    )

    def __init__(self, node: Node) -> None:
        inspector = TokenInspector(node)
        self.tokens = TokenIssuance(node)
        self.introspection = Introspection(node, inspector)
        self.decisions = DecisionPoint(node, inspector)
        self.callers = CallerAuthentication(node, inspector)
        self.clients = ClientAdministration(node)
        self.console = ConsoleViews(node, self.callers)
        self.own_password = OwnPassword(node)
        self.registrations = ClientRegistration(node)
        self.usage = UsageReports(node)


def operator_services(
    store: Store, clock: Clock, operator: Operator, *, token_lifetime: float = THIRTY_DAYS
) -> OperatorServices:
    """``token_lifetime``: the deployment's longest token life (how long keys stay published)."""
    return OperatorServices(
        OrgService(store, clock, operator=operator),
        AuditService(store),
        SigningKeyAdministration(store, clock, operator, token_lifetime=token_lifetime),
        OrgSettings(store, clock, operator=operator),
        PrincipalAdministration(store, clock, operator=operator),
    )
