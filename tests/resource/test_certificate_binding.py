"""Certificate-bound tokens at the resource server (RFC 8705 §3): a token whose ``cnf`` names a
client certificate (``x5t#S256``) is used only by a caller that presented that certificate, as
a trusted TLS terminator passes it on; bound to a DPoP key as well, it needs its proof too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from keyloft.domain.certificates import x5t_s256
from keyloft.domain.dpop import PROOF_ALGORITHMS
from keyloft.domain.signing import SigningKey
from keyloft.resource import (
    KeyloftMiddleware,
    ProofInvalid,
    TokenInvalid,
    TokenVerifier,
    VerifiedToken,
)
from tests.resource.dpop_support import JKT, OTHER_JWK, OTHER_KEY, PUBLIC_URL, proof
from tests.support.resource import call, oauth_token

GRANTS = [{"entityId": 2, "permission": "READ", "resources": []}]  # All: read
PATH = "/v2/customers"
URL = PUBLIC_URL + PATH
CERT_HEADER = "X-SSL-Client-Cert"
PROXY = "10.0.0.7"
BEARER_INVALID = 'Bearer realm="keyloft", error="invalid_token"'
DPOP_INVALID = f'DPoP realm="keyloft", error="invalid_token", algs="{" ".join(PROOF_ALGORITHMS)}"'


def _certificate(name: str) -> tuple[str, str]:
    """A self-signed EC P-256 client certificate: its PEM and its ``x5t#S256``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(Encoding.PEM).decode("ascii")
    return pem, x5t_s256(certificate.public_bytes(Encoding.DER))


CLIENT_PEM, CLIENT_X5T = _certificate("client")
OTHER_PEM, OTHER_X5T = _certificate("other")


def _token(key: SigningKey, **cnf: str) -> str:
    return oauth_token(key, cnf=cnf, scopes=GRANTS)


def _escaped(pem: str) -> str:
    """The PEM as nginx's ``$ssl_client_escaped_cert`` passes it."""
    return quote(pem, safe="")


# The presentation check, as a non-ASGI app calls it.


async def _check(
    verifier: TokenVerifier,
    token: str,
    certificate: str | None,
    *proofs: str,
    scheme: str = "Bearer",
) -> Any:
    verified = await verifier.verify(token)
    return await verifier.check_presentation(
        verified,
        token,
        scheme=scheme,
        proofs=proofs,
        method="GET",
        url=URL,
        certificate=certificate,
    )


async def _reason(
    verifier: TokenVerifier, token: str, certificate: str | None, *proofs: str, scheme: str = "DPoP"
) -> str:
    with pytest.raises(TokenInvalid) as caught:
        await _check(verifier, token, certificate, *proofs, scheme=scheme)
    return caught.value.reason


async def test_a_bound_token_with_its_certificate_passes(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    verified = await verifier.verify_request(
        token, scheme="Bearer", method="GET", url=URL, certificate=CLIENT_X5T
    )
    assert verified.x5t_s256 == CLIENT_X5T
    assert verified.jkt is None
    for scheme in ("bearer", "X-CAP-API-OAUTH-TOKEN"):
        assert await _check(verifier, token, CLIENT_X5T, scheme=scheme) is None


@pytest.mark.parametrize("certificate", [OTHER_X5T, None, "", CLIENT_X5T[:-1], "é" * 43])
async def test_a_bound_token_without_its_certificate_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, certificate: str | None
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    with pytest.raises(TokenInvalid) as caught:
        await _check(verifier, token, certificate)
    assert caught.value.reason == "certificate"
    assert not isinstance(caught.value, ProofInvalid)


async def test_a_certificate_bound_token_is_still_a_bearer_token(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    reason = await _reason(verifier, token, CLIENT_X5T, proof(token))
    assert reason == "dpop_unbound"


async def test_an_unbound_token_ignores_the_certificate(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = oauth_token(signing_key, scopes=GRANTS)
    assert await _check(verifier, token, OTHER_X5T) is None


async def test_a_token_bound_to_both_needs_both(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = _token(signing_key, jkt=JKT, **{"x5t#S256": CLIENT_X5T})
    assert await _reason(verifier, token, None, proof(token)) == "certificate"
    assert await _reason(verifier, token, OTHER_X5T, proof(token)) == "certificate"
    assert await _reason(verifier, token, CLIENT_X5T, scheme="Bearer") == "dpop_required"
    other_key = proof(token, key=OTHER_KEY, jwk=OTHER_JWK)
    assert await _reason(verifier, token, CLIENT_X5T, other_key) == "dpop_key"
    checked = await _check(verifier, token, CLIENT_X5T, proof(token), scheme="DPoP")
    assert checked is not None
    assert checked.jkt == JKT


async def test_a_refused_certificate_does_not_use_up_the_proof(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    token = _token(signing_key, jkt=JKT, **{"x5t#S256": CLIENT_X5T})
    made = proof(token)
    assert await _reason(verifier, token, OTHER_X5T, made) == "certificate"
    assert await _check(verifier, token, CLIENT_X5T, made, scheme="DPoP") is not None


@pytest.mark.parametrize("x5t", [None, 7, "", CLIENT_X5T[:-1], CLIENT_X5T + "=", ["x"]])
async def test_a_malformed_certificate_confirmation_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey, x5t: Any
) -> None:
    with pytest.raises(TokenInvalid) as caught:
        await verifier.verify(oauth_token(signing_key, cnf={"x5t#S256": x5t}))
    assert caught.value.reason == "claims"


# The middleware, with the certificate a TLS terminator passes on.


class Upstream:
    def __init__(self) -> None:
        self.verified: list[VerifiedToken] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.verified.append(scope["state"]["keyloft"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"upstream"})


def _from(peer: str, app: KeyloftMiddleware) -> Any:
    """``app`` called over a connection from ``peer``."""

    async def connected(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "client": (peer, 44321)}, receive, send)

    return connected


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def guarded(upstream: Upstream, verifier: TokenVerifier) -> KeyloftMiddleware:
    return KeyloftMiddleware(
        upstream,
        verifier,
        public_url=PUBLIC_URL,
        client_cert_header=CERT_HEADER,
        trusted_proxies=["10.0.0.0/24", "192.0.2.1"],
    )


@pytest.mark.parametrize("pem", [_escaped(CLIENT_PEM), CLIENT_PEM.replace("\n", " ").strip()])
async def test_the_middleware_passes_a_bound_token_with_its_certificate(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey, pem: str
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    headers = [("Authorization", f"Bearer {token}"), (CERT_HEADER, pem)]
    answer, _ = await call(_from(PROXY, guarded), "GET", PATH, headers)
    assert answer.status == 200
    assert [verified.x5t_s256 for verified in upstream.verified] == [CLIENT_X5T]


@pytest.mark.parametrize(
    ("peer", "certificates"),
    [
        pytest.param(PROXY, [_escaped(OTHER_PEM)], id="other-certificate"),
        pytest.param(PROXY, [], id="no-certificate"),
        pytest.param(PROXY, [""], id="empty-header"),
        pytest.param(PROXY, ["not a certificate"], id="unreadable"),
        pytest.param(PROXY, [_escaped(CLIENT_PEM)] * 2, id="header-twice"),
        pytest.param("10.0.1.7", [_escaped(CLIENT_PEM)], id="untrusted-peer"),
        pytest.param("127.0.0.1", [_escaped(CLIENT_PEM)], id="untrusted-local-peer"),
    ],
)
async def test_the_middleware_refuses_a_bound_token_without_its_certificate(
    guarded: KeyloftMiddleware,
    upstream: Upstream,
    signing_key: SigningKey,
    peer: str,
    certificates: list[str],
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    headers = [("Authorization", f"Bearer {token}")]
    headers += [(CERT_HEADER, pem) for pem in certificates]
    answer, _ = await call(_from(peer, guarded), "GET", PATH, headers)
    assert answer.status == 401
    assert answer.json()["errors"][0]["code"] == 3003
    assert answer.headers["www-authenticate"] == BEARER_INVALID
    assert upstream.verified == []


async def test_without_a_certificate_header_bound_tokens_are_refused(
    upstream: Upstream, verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    plain = KeyloftMiddleware(upstream, verifier, public_url=PUBLIC_URL)
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    headers = [("Authorization", f"Bearer {token}"), (CERT_HEADER, _escaped(CLIENT_PEM))]
    answer, _ = await call(_from(PROXY, plain), "GET", PATH, headers)
    assert answer.status == 401
    assert upstream.verified == []


async def test_the_middleware_needs_both_for_a_token_bound_to_both(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey
) -> None:
    token = _token(signing_key, jkt=JKT, **{"x5t#S256": CLIENT_X5T})
    app = _from(PROXY, guarded)
    certificate = (CERT_HEADER, _escaped(CLIENT_PEM))

    proof_only = [("Authorization", f"DPoP {token}"), ("DPoP", proof(token))]
    answer, _ = await call(app, "GET", PATH, proof_only)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == DPOP_INVALID

    certificate_only = [("Authorization", f"Bearer {token}"), certificate]
    answer, _ = await call(app, "GET", PATH, certificate_only)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == DPOP_INVALID

    other = [("Authorization", f"DPoP {token}"), ("DPoP", proof(token))]
    answer, _ = await call(app, "GET", PATH, [*other, (CERT_HEADER, _escaped(OTHER_PEM))])
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == DPOP_INVALID
    assert upstream.verified == []

    both = [("Authorization", f"DPoP {token}"), ("DPoP", proof(token)), certificate]
    answer, _ = await call(app, "GET", PATH, both)
    assert answer.status == 200
    assert upstream.verified[0].jkt == JKT
    assert upstream.verified[0].x5t_s256 == CLIENT_X5T


@pytest.mark.parametrize(
    "arguments",
    [
        {"client_cert_header": CERT_HEADER},
        {"client_cert_header": " ", "trusted_proxies": [PROXY]},
        {"trusted_proxies": [PROXY]},
    ],
)
def test_the_certificate_header_and_its_proxies_go_together(
    upstream: Upstream, verifier: TokenVerifier, arguments: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="client_cert_header"):
        KeyloftMiddleware(upstream, verifier, **arguments)


def _over_tls(peer: str, app: KeyloftMiddleware, chain: list[str]) -> Any:
    """``app`` called over a TLS connection from ``peer`` whose client presented ``chain``, as
    a server implementing the ASGI TLS extension puts it in the scope."""

    async def connected(scope: Any, receive: Any, send: Any) -> None:
        tls = {"client_cert_chain": chain, "client_cert_name": None, "client_cert_error": None}
        extended = {**scope, "client": (peer, 44321), "extensions": {"tls": tls}}
        await app(extended, receive, send)

    return connected


@pytest.mark.parametrize("configured", [True, False], ids=["header-configured", "no-header"])
async def test_the_connections_own_certificate_binds_when_the_server_terminates_tls(
    upstream: Upstream, verifier: TokenVerifier, signing_key: SigningKey, configured: bool
) -> None:
    arguments: dict[str, Any] = (
        {"client_cert_header": CERT_HEADER, "trusted_proxies": [PROXY]} if configured else {}
    )
    app = KeyloftMiddleware(upstream, verifier, public_url=PUBLIC_URL, **arguments)
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    bearer = [("Authorization", f"Bearer {token}")]
    answer, _ = await call(_over_tls("10.0.1.7", app, [CLIENT_PEM]), "GET", PATH, bearer)
    assert answer.status == 200
    assert [verified.x5t_s256 for verified in upstream.verified] == [CLIENT_X5T]
    # Another certificate on the connection; a header from this untrusted peer rescues nothing.
    claimed = [*bearer, (CERT_HEADER, _escaped(CLIENT_PEM))]
    for headers in (bearer, claimed):
        answer, _ = await call(_over_tls("10.0.1.7", app, [OTHER_PEM]), "GET", PATH, headers)
        assert answer.status == 401
        assert answer.headers["www-authenticate"] == BEARER_INVALID
    assert len(upstream.verified) == 1


async def test_a_trusted_proxys_header_speaks_for_its_client_over_its_own_tls(
    guarded: KeyloftMiddleware, upstream: Upstream, signing_key: SigningKey
) -> None:
    token = _token(signing_key, **{"x5t#S256": CLIENT_X5T})
    headers = [("Authorization", f"Bearer {token}"), (CERT_HEADER, _escaped(CLIENT_PEM))]
    answer, _ = await call(_over_tls(PROXY, guarded, [OTHER_PEM]), "GET", PATH, headers)
    assert answer.status == 200
    # Without the header, the proxy's own certificate is not the token's.
    bare = headers[:1]
    answer, _ = await call(_over_tls(PROXY, guarded, [OTHER_PEM]), "GET", PATH, bare)
    assert answer.status == 401
    assert [verified.x5t_s256 for verified in upstream.verified] == [CLIENT_X5T]
