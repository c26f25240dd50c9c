"""Helpers for the console tests of secretless clients: EC keys made here with their public
JWKs, RFC 7638 thumbprints computed independently of Keyloft, signed client assertions and
DPoP proofs, the fields of the create and credential forms, and the commands the pages show."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import time
import uuid
from dataclasses import dataclass
from html import unescape
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from tests.support.api import ISSUER
from tests.support.console import client_form

PKJWT = "private_key_jwt"
SECRET_METHOD = "client_secret_basic"


@dataclass(frozen=True)
class EcKey:
    """An EC P-256 key pair, its public JWK as ``to_jwk`` exports it (with a ``kid`` when
    given) and the JWK with its private member ``d``."""

    private: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]
    private_jwk: dict[str, Any]

    @classmethod
    def make(cls, kid: str | None = None) -> EcKey:
        private = ec.generate_private_key(ec.SECP256R1())
        public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        secret = ECAlgorithm.to_jwk(private, as_dict=True)
        named = {"kid": kid} if kid else {}
        return cls(private, dict(public) | named, dict(secret) | named)

    @property
    def kid(self) -> str | None:
        kid = self.public_jwk.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def thumbprint(self) -> str:
        return rfc7638(self.public_jwk)

    def text(self) -> str:
        return json.dumps(self.public_jwk)


def rfc7638(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members of an EC key in lexicographic order, no
    whitespace, base64url without padding."""
    canonical = '{{"crv":"{crv}","kty":"{kty}","x":"{x}","y":"{y}"}}'.format(**jwk)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def assertion(client_key: str, key: EcKey, *, audience: str = ISSUER) -> str:
    """A client's own assertion (RFC 7523 §3): iss = sub = its key, short-lived, unique jti."""
    now = int(time.time())
    claims = {
        "iss": client_key,
        "sub": client_key,
        "aud": audience,
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": key.kid} if key.kid else None
    return jwt.encode(claims, key.private, algorithm="ES256", headers=headers)


def dpop_proof(key: EcKey, method: str, url: str, **claims: Any) -> str:
    """An RFC 9449 §4.2 proof for one request: typ dpop+jwt, the public JWK in the header,
    htm, htu, iat now and a unique jti; ``claims`` add to them (``ath``, ``nonce``)."""
    body = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    headers = {"typ": "dpop+jwt", "jwk": key.public_jwk}
    return jwt.encode(body | claims, key.private, algorithm="ES256", headers=headers)


def token_hash(token: str) -> str:
    """A proof's ``ath``: base64url of the SHA-256 of the access token, without padding."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def assertion_form(client_key: str, key: EcKey, audience: str = ISSUER) -> dict[str, str]:
    """The /oauth2/token form minting with a fresh assertion of ``key``."""
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(client_key, key, audience=audience),
    }


RULE = {
    "ruleName": "github-deploy",
    "ruleIssuer": "https://token.actions.githubusercontent.com",
    "ruleSubject": "repo:octo-org/app:ref:refs/heads/main",
    "ruleAudiences": "api://keyloft, https://keyloft.example\nhttps://third.example",
    "ruleClaims": "repository=octo-org/app\n\n ref = refs/heads/main \n",
    "ruleMaxAgeSeconds": "600",
}
RULE_AS_API_SHOWS = {
    "name": "github-deploy",
    "issuer": "https://token.actions.githubusercontent.com",
    "subject": "repo:octo-org/app:ref:refs/heads/main",
    "audiences": ["api://keyloft", "https://keyloft.example", "https://third.example"],
    "claims": {"ref": "refs/heads/main", "repository": "octo-org/app"},
    "maxAgeSeconds": 600,
}


def secretless_form(
    till_id: int,
    token: str,
    *,
    name: str = "deploy-bot",
    jwk: str = "",
    jwks_uri: str = "",
    rule: dict[str, str] | None = None,
    method: str = PKJWT,
) -> dict[str, str]:
    """The create form's fields for a client of ``method`` with a first credential."""
    fields = client_form(till_id, token, name=name) | {
        "tokenEndpointAuthMethod": method,
        "jwk": jwk,
        "jwksUri": jwks_uri,
    }
    return fields | dict.fromkeys(RULE, "") | (rule or {})


def created_key(html: str) -> str:
    found = re.search(r'<code id="client-key">([^<]+)</code>', html)
    assert found is not None, "no client key in page"
    return found.group(1)


def shown_secret(html: str) -> str | None:
    found = re.search(r'id="client-secret" class="secret" value="([^"]+)"', html)
    return found.group(1) if found else None


def form_curl(html: str, element_id: str) -> tuple[str, list[str]]:
    """The URL and the ``-d`` fields of a form-posting ``curl`` shown in ``element_id``."""
    found = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', html, re.S)
    assert found is not None, f"no command {element_id!r}"
    words = shlex.split(unescape(found.group(1)))
    assert words[:3] == ["curl", "-X", "POST"]
    fields = [words[i + 1] for i, word in enumerate(words) if word == "-d"]
    return words[3], fields


@dataclass(frozen=True)
class Command:
    """A ``curl`` command a page shows: its URL, its headers and its ``-d`` fields."""

    url: str
    headers: dict[str, str]
    data: list[str]

    def filled(self, **variables: str) -> Command:
        """The command with the shell variables (``$NAME``) replaced by these values."""

        def fill(text: str) -> str:
            for name, value in variables.items():
                text = text.replace(f"${name}", value)
            return text

        return Command(
            self.url,
            {name: fill(value) for name, value in self.headers.items()},
            [fill(field) for field in self.data],
        )


def command(html: str, element_id: str) -> Command:
    """The ``curl`` command shown in ``element_id``, as the shell would split it."""
    found = re.search(rf'<pre id="{element_id}"><code>(.*?)</code></pre>', html, re.S)
    assert found is not None, f"no command {element_id!r}"
    words = shlex.split(unescape(found.group(1)))
    assert words[:3] == ["curl", "-X", "POST"]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    data = [words[i + 1] for i, word in enumerate(words) if word == "-d"]
    return Command(words[3], headers, data)
