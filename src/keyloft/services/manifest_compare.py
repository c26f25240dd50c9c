"""What a client spec amounts to, normalised as Keyloft stores it and checked by the same
domain rules the API applies, so that a file and a client compare equal exactly when applying
the file would change nothing: scopes and their resources in any order, keys by their
RFC 7638 thumbprint (with the members besides the key itself), federated rules by name. Its
values are what a plan shows: never a secret, keys only by thumbprint."""

from __future__ import annotations

import hashlib
from typing import Any

from keyloft.domain.certificate_names import NAME_FIELDS, check_certificate_name
from keyloft.domain.client_keys import ClientKey, b64url, check_jwks
from keyloft.domain.clients import check_description
from keyloft.domain.federation import check_rules, check_url
from keyloft.domain.patterns import validate_patterns
from keyloft.manifest.model import ClientSpec

# Members of a registered key shown beside its thumbprint: a change to them is a change.
_SHOWN_MEMBERS = ("kid", "alg", "use", "key_ops", "x5t", "x5t#S256")


def client_view(spec: ClientSpec, *, allow_http: bool) -> dict[str, Any]:
    """The spec's fields as compared and shown (its name, the identity, is not among them);
    ``ValidationFailed`` naming the field (as the API does) for a value Keyloft refuses."""
    keys = check_jwks(spec.jwks) if spec.jwks is not None else ()
    rules = check_rules(
        [rule.model_dump(exclude_none=True) for rule in spec.federatedCredentials],
        "federatedCredentials",
        allow_http=allow_http,
    )
    view: dict[str, Any] = {
        "description": check_description(spec.description),
        "expirationTokenTime": spec.expirationTokenTime,
        "defaultTill": spec.defaultTill,
        "scopes": sorted(
            (
                {
                    "entity": scope.entity,
                    "permission": scope.permission,
                    "resources": sorted(
                        validate_patterns(scope.resources, f"scopes[{index}].resources")
                    ),
                }
                for index, scope in enumerate(spec.scopes)
            ),
            key=lambda scope: (scope["entity"], scope["permission"]),
        ),
        "tokenEndpointAuthMethod": spec.tokenEndpointAuthMethod,
        "jwks": sorted(_key_view(key) for key in keys) or None,
        "jwksUri": (
            check_url(spec.jwksUri, "jwksUri", allow_http=allow_http)
            if spec.jwksUri is not None
            else None
        ),
        "federatedCredentials": [
            {**rule.as_dict(), "audiences": sorted(rule.audiences)}
            for rule in sorted(rules, key=lambda rule: rule.name)
        ]
        or None,
        "dpopBoundAccessTokens": spec.dpopBoundAccessTokens,
        "tlsClientCertificateBoundAccessTokens": spec.tlsClientCertificateBoundAccessTokens,
    }
    for field in NAME_FIELDS:
        value = getattr(spec, field)
        view[field] = check_certificate_name(field, value).value if value is not None else None
    return view


def _key_view(key: ClientKey) -> str:
    """A key as a plan shows it: its thumbprint, then the members that are not the key."""
    shown = [key.thumbprint]
    shown += [f"{name}={key.jwk[name]}" for name in _SHOWN_MEMBERS if name in key.jwk]
    if "x5c" in key.jwk:
        chain = "".join(str(cert) for cert in key.jwk["x5c"]).encode()
        shown.append(f"x5c={b64url(hashlib.sha256(chain).digest())[:16]}")
    return " ".join(shown)


def created_fields(view: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields a plan shows for a new client: those that are not empty or off."""
    return {
        name: [None, value]
        for name, value in view.items()
        if value is not None and value is not False and value != ""
    }


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for every field that differs."""
    return {
        name: [before.get(name), after.get(name)]
        for name in after
        if before.get(name) != after.get(name)
    }
