"""What the console shows of how a client proves itself: its keys and federated credentials as
rows (each with its last use), which credential minted its latest token, the commands that
mint a token with a signed assertion (RFC 7523) or a TLS certificate (RFC 8705) instead of a
secret, and what the DPoP proof (RFC 9449) of a client whose tokens must be DPoP-bound holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from keyloft.domain.client_keys import ClientKey
from keyloft.domain.clients import Client
from keyloft.domain.dpop import PROOF_ALGORITHMS, TYP
from keyloft.domain.federation import FederatedCredential
from keyloft.services.client_auth.assertion import JWT_BEARER
from keyloft.services.client_auth.private_key_jwt import MAX_LIFETIME
from keyloft.web.console.pages import duration, when

ASSERTION_VARIABLE = "CLIENT_ASSERTION"
FEDERATED_VARIABLE = "FEDERATED_TOKEN"
PROOF_VARIABLE = "DPOP_PROOF"
DPOP_HEADER = f'  -H "DPoP: ${PROOF_VARIABLE}"'
CERT_FILE = "client-cert.pem"
KEY_FILE = "client-key.pem"
TLS_OPTIONS = [f"  --cert {CERT_FILE}", f"  --key {KEY_FILE}"]
"""curl's options connecting with the client's TLS certificate and its private key (files)."""
MAX_ASSERTION_LIFETIME = duration(MAX_LIFETIME)


def key_type(key: ClientKey) -> str:
    """``RSA 2048``, ``EC P-256``, ``OKP Ed25519``."""
    if isinstance(key.key, rsa.RSAPublicKey):
        return f"RSA {key.key.key_size}"
    return f"{key.kty} {key.crv}" if key.crv else key.kty


def key_rows(client: Client, uses: Mapping[str, datetime], timezone: str) -> list[dict[str, Any]]:
    return [
        {
            "kid": key.kid,
            "alg": key.alg,
            "algorithms": ", ".join(key.algorithms) or "none accepted",
            "type": key_type(key),
            "thumbprint": key.thumbprint,
            "last_used": when(uses.get(f"key:{key.thumbprint}"), timezone),
        }
        for key in client.credentials.jwks
    ]


def claim_text(name: str, value: str | int | bool) -> str:
    """A required claim as ``name=value``, the value as JSON (so ``"42"`` and ``42`` differ)."""
    return f"{name}={json.dumps(value, ensure_ascii=False)}"


def rule_rows(
    rules: tuple[FederatedCredential, ...], uses: Mapping[str, datetime], timezone: str
) -> list[dict[str, Any]]:
    return [
        {
            "name": rule.name,
            "issuer": rule.issuer,
            "subject": rule.subject,
            "audiences": list(rule.audiences),
            "claims": [claim_text(name, value) for name, value in rule.claims],
            "max_age": duration(rule.max_age_seconds) if rule.max_age_seconds else None,
            "last_used": when(uses.get(f"federated:{rule.name}"), timezone),
        }
        for rule in rules
    ]


def last_credential(client: Client, uses: Mapping[str, datetime], timezone: str) -> str:
    """Which credential minted the client's latest token, as the API's ``lastUsedCredential``
    tells it: a key, a federated credential, or the secret (whose uses are the client's)."""
    latest = max(uses.items(), key=lambda item: item[1], default=None)
    secret_use = client.last_used_on
    if latest is None or (secret_use is not None and secret_use > latest[1]):
        return "none yet" if secret_use is None else f"its secret, {when(secret_use, timezone)}"
    kind, _, name = latest[0].partition(":")
    at = when(latest[1], timezone)
    if kind == "federated":
        return f"federated credential “{name}”, {at}"
    if kind == "certificate":
        return f"TLS certificate {name} (x5t#S256), {at}"
    kid = next((key.kid for key in client.credentials.jwks if key.thumbprint == name), None)
    named = f" (kid {kid})" if kid else ""
    return f"key {name}{named}, {at}"


def dpop_help(token_url: str, *, nonce: bool) -> dict[str, Any]:
    """What a page says of the DPoP proof a token request to ``token_url`` carries (RFC 9449
    §4.2), read from the shell (``$DPOP_PROOF``); with ``nonce``, the deployment asks for the
    server's nonce in it (§8)."""
    return {
        "token_url": token_url,
        "variable": PROOF_VARIABLE,
        "typ": TYP,
        "algorithms": PROOF_ALGORITHMS,
        "nonce": nonce,
    }


def tls_curl(issuer: str, client_key: str, *, dpop: bool = False) -> str:
    """A command minting a token at /oauth2/token for a client that proves itself with its TLS
    certificate (tls_client_auth, self_signed_tls_client_auth): it
    connects (through the TLS terminator) with its certificate and key, names itself by
    ``client_id`` and sends no secret; with ``dpop``, and a DPoP proof (``$DPOP_PROOF``)."""
    lines = [f"curl -X POST '{issuer.rstrip('/')}/oauth2/token'", *TLS_OPTIONS]
    if dpop:
        lines.append(DPOP_HEADER)
    lines += ["  -d grant_type=client_credentials", f"  -d client_id={client_key}"]
    return " \\\n".join(lines)


def assertion_curl(
    issuer: str, client_key: str, *, federated: bool, dpop: bool = False, tls: bool = False
) -> str:
    """A command minting a token at /oauth2/token with an assertion read from the shell: the
    client's own (``$CLIENT_ASSERTION``), or with ``federated`` another issuer's token naming
    the client by ``client_id``; with ``dpop``, and a DPoP proof (``$DPOP_PROOF``); with
    ``tls``, connecting with the client's TLS certificate. Keys are letters and digits only and
    need no quoting."""
    lines = [f"curl -X POST '{issuer.rstrip('/')}/oauth2/token'"]
    if tls:
        lines += TLS_OPTIONS
    if dpop:
        lines.append(DPOP_HEADER)
    lines.append("  -d grant_type=client_credentials")
    if federated:
        lines.append(f"  -d client_id={client_key}")
    variable = FEDERATED_VARIABLE if federated else ASSERTION_VARIABLE
    lines += [
        f"  -d client_assertion_type={JWT_BEARER}",
        f'  -d "client_assertion=${variable}"',
    ]
    return " \\\n".join(lines)
