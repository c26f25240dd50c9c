"""Federated assertions: a token of another issuer (a CI pipeline, a Kubernetes cluster, a
SPIFFE trust domain, a partner's identity provider) accepted for a client whose federated
credentials trust that issuer, subject, audience and claims.

Unlike a client's own assertion, such a token is reused until it expires (a workload holds one
token for many calls), so it has no single-use check; a rule may bound its age instead.
"""

from __future__ import annotations

from keyloft.domain.clients import Client
from keyloft.domain.federation import mismatch
from keyloft.services.client_auth.assertion import (
    SKEW,
    Assertion,
    check_times,
    refuse,
    verify_signature,
)
from keyloft.services.node import Node
from keyloft.services.ports import RemoteFetchFailed


async def verify(assertion: Assertion, client: Client, node: Node) -> str:
    """The name of the rule the token satisfies; ``AssertionRefused`` otherwise."""
    key = client.client_key
    issuer = assertion.claims.get("iss")
    rules = [rule for rule in client.credentials.federated if rule.issuer == issuer]
    if not rules or not isinstance(issuer, str):
        raise refuse("no_rule", key)
    try:
        keys = await node.key_sets.issuer_keys(issuer, assertion.kid)
    except RemoteFetchFailed as failed:
        raise refuse(f"issuer_keys_{failed.reason}", key) from None
    claims, _ = verify_signature(assertion, keys, key)
    now = node.clock.now().timestamp()
    check_times(claims, now, key, max_lifetime=None)
    reasons = []
    for rule in rules:
        reason = mismatch(rule, claims, default_audience=node.issuer, now=now, skew=SKEW)
        if reason is None:
            return rule.name
        reasons.append(reason)
    raise refuse(reasons[0], key)
