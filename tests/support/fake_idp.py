"""A local identity provider for tests of secretless clients (RFC 7523), and the keys and
assertions such clients present.

``FakeIdP`` is a real HTTP server on 127.0.0.1 (a free port, a ``ThreadingHTTPServer`` in a
daemon thread), usable from async tests since it never runs on their event loop. It serves
OpenID Connect discovery (``/.well-known/openid-configuration``) or RFC 8414 metadata
(``/.well-known/oauth-authorization-server``) naming its own base URL as issuer, and its JWKS
at ``/jwks``. A test may host further JWKS documents at chosen paths with a chosen
Cache-Control (a client's ``jwksUri``), rotate the signing key, make a path slow or huge,
point the discovery's ``jwks_uri`` elsewhere, and count the requests each path received (and
the connections, readable or not).

``ClientKey`` is a client's key pair with its public JWK and RFC 7638 thumbprint;
``assertion`` builds a private_key_jwt assertion with any algorithm and any claims, and
``alg_none``, ``hmac_forged`` and ``relabelled`` (over ``forged``) build the deliberately
broken ones PyJWT refuses to sign (``alg: none``, HMAC keyed with a public key, a signature of
one algorithm under the header of another). The ``github_actions``, ``kubernetes`` and
``spiffe`` methods of ``FakeIdP`` build tokens shaped as those platforms issue them, signed
with the provider's current key.

On Keyloft's side: ``present`` and ``present_v3`` send an assertion to either token endpoint,
and ``Refusals`` holds how a wrong secret is refused there, which every other refusal of a
client must equal (status, body and headers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OIDC_DISCOVERY = "/.well-known/openid-configuration"
OAUTH_METADATA = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/jwks"
MEGABYTE = 1024 * 1024

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# The algorithm each kind of key signs with by default.
DEFAULT_ALGORITHM = {"RSA": "RS256", "P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}


# --- keys -----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


_RSA_POOL: dict[int, list[PrivateKey]] = {}
_RSA_CALLS: Counter[int] = Counter()
RSA_POOL_SIZE = 6


def generate_key(kind: str, *, bits: int = 2048, fresh: bool = False) -> PrivateKey:
    """A private key: ``kind`` "RSA" (``bits``), "P-256", "P-384", "P-521" or "Ed25519".

    RSA generation is slow, so RSA keys come from a pool of ``RSA_POOL_SIZE`` per size, handed
    out in turn: that many consecutive calls return distinct keys, which is all a test needs
    (``fresh`` forces a new one)."""
    if kind == "RSA":
        pool = _RSA_POOL.setdefault(bits, [])
        turn = _RSA_CALLS[bits] % RSA_POOL_SIZE
        _RSA_CALLS[bits] += 1
        if fresh or turn >= len(pool):
            key: PrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=bits)
            if len(pool) < RSA_POOL_SIZE:
                pool.append(key)
            return key
        return pool[turn]
    if kind in CURVES:
        return ec.generate_private_key(CURVES[kind]())
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key kind {kind!r}")


def public_jwk(
    key: PrivateKey, *, kid: str | None = None, alg: str | None = None
) -> dict[str, Any]:
    """The public JWK of ``key`` (no private member), with ``kid`` and ``alg`` if given."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk = {name: value for name, value in jwk.items() if name not in ("key_ops", "alg", "kid")}
    if kid is not None:
        jwk["kid"] = kid
    if alg is not None:
        jwk["alg"] = alg
    return jwk


def private_jwk(key: PrivateKey, *, kid: str | None = None) -> dict[str, Any]:
    """The JWK of ``key`` with its private members (``d``...): what a client must never send."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    jwk = {name: value for name, value in jwk.items() if name not in ("key_ops", "alg", "kid")}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint, SHA-256, base64url without padding."""
    required = {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class ClientKey:
    """A client's key pair: what it registers (``jwk``) and what it signs with (``private``)."""

    private: PrivateKey
    alg: str
    kid: str
    jwk: dict[str, Any]

    @classmethod
    def make(
        cls,
        kind: str = "P-256",
        *,
        alg: str | None = None,
        kid: str | None = None,
        bits: int = 2048,
        with_alg: bool = False,
        fresh: bool = False,
    ) -> ClientKey:
        """A new key of ``kind``; ``alg`` defaults by kind (EdDSA for Ed25519). The JWK names
        ``alg`` only if ``with_alg``."""
        private = generate_key(kind, bits=bits, fresh=fresh)
        algorithm = alg or ("EdDSA" if kind == "Ed25519" else DEFAULT_ALGORITHM[kind])
        key_id = kid or f"{kind.lower()}-{uuid.uuid4().hex[:12]}"
        jwk = public_jwk(private, kid=key_id, alg=algorithm if with_alg else None)
        return cls(private, algorithm, key_id, jwk)

    @property
    def thumbprint(self) -> str:
        return thumbprint(self.jwk)

    @property
    def pem(self) -> bytes:
        return public_pem(self.private)


def jwks(*keys: ClientKey) -> dict[str, Any]:
    return {"keys": [key.jwk for key in keys]}


# --- assertions -----------------------------------------------------------------------------


def assertion(
    client_key: str,
    key: ClientKey,
    aud: str | list[str],
    *,
    alg: str | None = None,
    kid: str | None = None,
    omit_kid: bool = False,
    now: float | None = None,
    lifetime: float = 120,
    iss: str | None = None,
    sub: str | None = None,
    jti: str | None = None,
    drop: tuple[str, ...] = (),
    headers: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A private_key_jwt assertion (RFC 7523 §3) for ``client_key`` signed with ``key``.

    ``iss`` and ``sub`` default to the client key, ``jti`` to a new random value, ``exp`` to
    ``now + lifetime``; ``now`` defaults to the wall clock (pass the runtime's when it is a
    fake one). ``kid`` defaults to the key's own (``omit_kid`` sends none). Claims named in
    ``drop`` are left out; keyword arguments add or replace claims."""
    moment = int(time.time() if now is None else now)
    body: dict[str, Any] = {
        "iss": client_key if iss is None else iss,
        "sub": client_key if sub is None else sub,
        "aud": aud,
        "iat": moment,
        "exp": moment + int(lifetime),
        "jti": uuid.uuid4().hex if jti is None else jti,
    }
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    header: dict[str, Any] = {} if omit_kid else {"kid": key.kid if kid is None else kid}
    header.update(headers or {})
    return jwt.encode(body, key.private, algorithm=alg or key.alg, headers=header)


def forged(header: Mapping[str, Any], claims: Mapping[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with exactly this header, payload and signature bytes."""
    return f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}"


def unsigned(token: str, **header: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header (updated with ``header``) and claims of ``token``, for re-forging it."""
    found = jwt.get_unverified_header(token) | header
    body: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return found, body


def hmac_forged(token: str, secret: bytes, alg: str = "HS256") -> str:
    """``token`` re-signed with HMAC keyed by ``secret`` (the public-key-as-secret trick)."""
    header, claims = unsigned(token, alg=alg)
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(mac)}"


def alg_none(token: str) -> str:
    header, claims = unsigned(token, alg="none")
    return forged(header, claims)


def relabelled(token: str, alg: str) -> str:
    """``token`` with its header's ``alg`` replaced and its signature bytes kept."""
    header, claims = unsigned(token, alg=alg)
    signature = base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
    return forged(header, claims, signature)


def ed25519_named(token: str, key: ClientKey, alg: str = "Ed25519") -> str:
    """``token`` re-signed with the Ed25519 ``key`` under the header ``alg`` given (RFC 9864's
    name ``Ed25519``, say), which PyJWT does not know: a genuine signature, another name."""
    assert isinstance(key.private, ed25519.Ed25519PrivateKey)
    header, claims = unsigned(token, alg=alg)
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode()))}"


# --- the identity provider ------------------------------------------------------------------


@dataclass
class Route:
    """What one path answers: a JSON document or raw bytes, headers, and misbehaviour."""

    body: bytes
    content_type: str = "application/json"
    status: int = 200
    cache_control: str | None = None
    delay: float = 0.0


@dataclass
class SigningKey:
    private: PrivateKey
    alg: str
    kid: str

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private, kid=self.kid, alg=self.alg) | {"use": "sig"}


@dataclass
class _State:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.hits[path] += 1
            route = state.routes.get(path)
        if route is None:
            route = Route(b'{"error": "not found"}', status=404)
        if route.delay:
            state.stopping.wait(route.delay)
            if state.stopping.is_set():
                return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        if route.cache_control is not None:
            self.send_header("Cache-Control", route.cache_control)
        self.end_headers()
        try:
            view = memoryview(route.body)
            for start in range(0, len(view), 64 * 1024):
                self.wfile.write(view[start : start + 64 * 1024])
        except OSError:  # the caller gave up reading (a size cap): expected
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the counters, not a log."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Counts every connection, even one that never sends a readable request."""
        with self.state.lock:
            self.state.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller hanging up on a slow or huge answer is part of the test, not an error."""


class FakeIdP:
    """An identity provider on 127.0.0.1: discovery, JWKS, and hosted documents.

    Use as a context manager (``with FakeIdP() as idp:``) or call ``start``/``stop``."""

    def __init__(
        self,
        *,
        kind: str = "RSA",
        metadata: str = "oidc",
        jwks_cache_control: str | None = "max-age=300",
    ) -> None:
        """``kind`` is the signing key's ("RSA", "P-256", "Ed25519"...); ``metadata`` is
        "oidc" (OpenID Connect discovery), "oauth" (RFC 8414 only) or "both"."""
        self._state = _State()
        self._kind = kind
        self._metadata = metadata
        self._jwks_cache_control = jwks_cache_control
        self._jwks_uri: str | None = None
        self.keys: list[SigningKey] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # life cycle

    def start(self) -> FakeIdP:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if not self.keys:
            self.keys.append(self._new_key())
        self._publish()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses

    @property
    def url(self) -> str:
        """The base URL, which is also the issuer."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    def at(self, path: str) -> str:
        return self.url + path

    # counters

    def hits(self, path: str) -> int:
        """Requests ``path`` received so far."""
        with self._state.lock:
            return self._state.hits[path]

    def total_hits(self) -> int:
        with self._state.lock:
            return sum(self._state.hits.values())

    def connections(self) -> int:
        """Connections accepted so far, whether or not they carried an HTTP request (a TLS
        handshake, say)."""
        with self._state.lock:
            return self._state.connections

    def reset_hits(self) -> None:
        """Forget the requests and connections counted so far."""
        with self._state.lock:
            self._state.hits.clear()
            self._state.connections = 0

    # documents

    def serve(
        self,
        path: str,
        document: Any,
        *,
        cache_control: str | None = None,
        status: int = 200,
        delay: float = 0.0,
    ) -> str:
        """Answer ``path`` with ``document`` (JSON, or bytes as they are); returns its URL."""
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        route = Route(body, status=status, cache_control=cache_control, delay=delay)
        with self._state.lock:
            self._state.routes[path] = route
        return self.at(path)

    def host_jwks(self, path: str, keys: Any, *, cache_control: str | None = None) -> str:
        """Host a JWKS (a ``{"keys": [...]}`` document or ``ClientKey`` objects) at ``path``."""
        document = dict(keys) if isinstance(keys, Mapping) else {"keys": [k.jwk for k in keys]}
        return self.serve(path, document, cache_control=cache_control)

    def slow(self, path: str, seconds: float = 30.0) -> str:
        """Answer ``path`` only after ``seconds`` (stopping the provider cuts the wait)."""
        with self._state.lock:
            route = self._state.routes.setdefault(path, Route(b'{"keys": []}'))
            route.delay = seconds
        return self.at(path)

    def huge(self, path: str, size: int = 5 * MEGABYTE) -> str:
        """Answer ``path`` with a valid JSON JWKS of ``size`` bytes (padding in one member)."""
        head, tail = b'{"keys": [], "padding": "', b'"}'
        body = head + b"x" * (size - len(head) - len(tail)) + tail
        return self.serve(path, body)

    def point_jwks_uri(self, url: str) -> None:
        """Make the metadata documents name ``url`` as ``jwks_uri``."""
        self._jwks_uri = url
        self._publish()

    def use_metadata(self, metadata: str) -> None:
        """Serve "oidc", "oauth" (RFC 8414) or "both" metadata documents from now on."""
        self._metadata = metadata
        self._publish()

    # signing keys

    @property
    def key(self) -> SigningKey:
        """The key tokens are signed with now."""
        return self.keys[-1]

    def rotate(self, *, keep_old: bool = False, kind: str | None = None) -> SigningKey:
        """A new signing key with a new kid; the old one stays published only if ``keep_old``."""
        fresh = self._new_key(kind)
        self.keys = [*self.keys, fresh] if keep_old else [fresh]
        self._publish()
        return fresh

    def publish(self, keys: list[SigningKey]) -> None:
        """Publish exactly ``keys`` (another provider's, say); the last one signs."""
        self.keys = list(keys)
        self._publish()

    def _new_key(self, kind: str | None = None) -> SigningKey:
        chosen = kind or self._kind
        private = generate_key(chosen)
        alg = "EdDSA" if chosen == "Ed25519" else DEFAULT_ALGORITHM[chosen]
        return SigningKey(private, alg, f"idp-{uuid.uuid4().hex[:10]}")

    def _publish(self) -> None:
        jwks_uri = self._jwks_uri or self.jwks_url
        metadata = {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
        }
        with self._state.lock:
            routes = self._state.routes
            routes.pop(OIDC_DISCOVERY, None)
            routes.pop(OAUTH_METADATA, None)
            if self._metadata in ("oidc", "both"):
                routes[OIDC_DISCOVERY] = Route(json.dumps(metadata).encode())
            if self._metadata in ("oauth", "both"):
                oauth = {
                    "issuer": self.issuer,
                    "jwks_uri": jwks_uri,
                    "token_endpoint": self.at("/token"),
                    "grant_types_supported": ["client_credentials"],
                }
                routes[OAUTH_METADATA] = Route(json.dumps(oauth).encode())
            keys = {"keys": [key.jwk for key in self.keys]}
            previous = routes.get(JWKS_PATH)
            routes[JWKS_PATH] = Route(
                json.dumps(keys).encode(),
                cache_control=self._jwks_cache_control,
                delay=previous.delay if previous else 0.0,
            )

    # tokens

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        chosen = key or self.key
        header = {"kid": chosen.kid, "typ": "JWT"} | dict(headers or {})
        return jwt.encode(dict(claims), chosen.private, algorithm=chosen.alg, headers=header)

    def _signed(
        self, body: dict[str, Any], claims: Mapping[str, Any], drop: tuple[str, ...]
    ) -> str:
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        return self.sign(body)

    def _times(self, now: float | None, lifetime: float) -> dict[str, int]:
        moment = int(time.time() if now is None else now)
        return {"iat": moment, "nbf": moment, "exp": moment + int(lifetime)}

    def github_actions(
        self,
        aud: str | list[str],
        *,
        repository: str = "acme/payments",
        ref: str = "refs/heads/main",
        workflow: str = "deploy",
        now: float | None = None,
        lifetime: float = 300,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """A token shaped as GitHub Actions issues one to a workflow run; keyword arguments
        add or replace claims, ``drop`` names claims to leave out."""
        owner = repository.split("/", 1)[0]
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": f"repo:{repository}:ref:{ref}",
            "aud": aud,
            "jti": str(uuid.uuid4()),
            "ref": ref,
            "ref_type": "branch",
            "repository": repository,
            "repository_id": "123456789",
            "repository_owner": owner,
            "repository_owner_id": "987654",
            "repository_visibility": "private",
            "workflow": workflow,
            "workflow_ref": f"{repository}/.github/workflows/{workflow}.yml@{ref}",
            "job_workflow_ref": f"{repository}/.github/workflows/{workflow}.yml@{ref}",
            "event_name": "push",
            "actor": "octocat",
            "run_id": "6789012345",
            "run_number": "42",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
            **self._times(now, lifetime),
        }
        return self._signed(body, claims, drop)

    def kubernetes(
        self,
        aud: str | list[str],
        *,
        namespace: str = "payments",
        service_account: str = "api",
        pod: str = "api-7d9f8b6c5-x2x9q",
        now: float | None = None,
        lifetime: float = 600,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """A projected service account token shaped as a Kubernetes API server issues it."""
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "aud": aud if isinstance(aud, list) else [aud],
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
                "pod": {"name": pod, "uid": str(uuid.uuid4())},
            },
            "jti": str(uuid.uuid4()),
            **self._times(now, lifetime),
        }
        return self._signed(body, claims, drop)

    def spiffe(
        self,
        aud: str | list[str],
        *,
        spiffe_id: str = "spiffe://acme.test/ns/payments/sa/api",
        now: float | None = None,
        lifetime: float = 300,
        drop: tuple[str, ...] = (),
        **claims: Any,
    ) -> str:
        """A JWT-SVID as a SPIRE server with an OIDC discovery provider issues it."""
        moment = int(time.time() if now is None else now)
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": spiffe_id,
            "aud": aud if isinstance(aud, list) else [aud],
            "iat": moment,
            "exp": moment + int(lifetime),
        }
        return self._signed(body, claims, drop)


@contextmanager
def running_idp(**options: Any) -> Iterator[FakeIdP]:
    """A started ``FakeIdP`` for a ``with`` block or a generator fixture."""
    idp = FakeIdP(**options)
    idp.start()
    try:
        yield idp
    finally:
        idp.stop()


# --- presenting assertions to Keyloft -------------------------------------------------------

TOKEN = "/oauth2/token"
GENERATE = "/v3/oauth/token/generate"
CLIENTS = "/v3/integrations/clients"
KEYLOFT_JWKS = "/.well-known/jwks.json"
OAUTH_REFUSAL = {"error": "invalid_client", "error_description": "Client authentication failed."}
V3_REFUSAL = {"data": None, "errors": [{"code": 3002, "message": "Invalid client key or secret."}]}
# Headers that differ between any two answers, whatever they answer.
VOLATILE_HEADERS = frozenset({"x-request-id", "date", "traceparent"})


async def present(
    http: httpx.AsyncClient,
    client_assertion: str,
    client_id: str | None = None,
    *,
    assertion_type: str = ASSERTION_TYPE,
    headers: Mapping[str, str] | None = None,
    **form: str,
) -> httpx.Response:
    """POST /oauth2/token with a client assertion (RFC 7523 §2.2), ``client_id`` if given."""
    body = {
        "grant_type": "client_credentials",
        "client_assertion_type": assertion_type,
        "client_assertion": client_assertion,
        **({"client_id": client_id} if client_id is not None else {}),
        **form,
    }
    return await http.post(TOKEN, data=body, headers=dict(headers or {}))


async def present_v3(http: httpx.AsyncClient, key: str, client_assertion: str) -> httpx.Response:
    """POST /v3/oauth/token/generate with ``{"key", "assertion"}``."""
    return await http.post(GENERATE, json={"key": key, "assertion": client_assertion})


def answer_shape(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    """What an answer tells its caller: status, JSON body, headers but the volatile ones."""
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in VOLATILE_HEADERS
    }
    return response.status_code, response.json(), headers


@dataclass
class Refusals:
    """How Keyloft refuses a wrong secret at each token endpoint: every other refusal of a
    client must look exactly the same (status, body, headers), whatever its reason."""

    oauth: tuple[int, Any, dict[str, str]]
    v3: tuple[int, Any, dict[str, str]]

    @classmethod
    async def learn(cls, http: httpx.AsyncClient, client: Mapping[str, Any]) -> Refusals:
        """The refusals of a wrong secret for ``client`` (a client_secret_basic client)."""
        wrong = "w" * 40
        raw = f"{client['clientKey']}:{wrong}".encode()
        oauth = await http.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
        )
        v3 = await http.post(GENERATE, json={"key": client["clientKey"], "secret": wrong})
        assert oauth.status_code == v3.status_code == 401, (oauth.text, v3.text)
        assert oauth.json() == OAUTH_REFUSAL
        assert v3.json() == V3_REFUSAL
        return cls(answer_shape(oauth), answer_shape(v3))

    def assert_oauth(self, response: httpx.Response) -> None:
        assert response.status_code == 401, response.text
        assert response.json() == OAUTH_REFUSAL, response.text
        assert answer_shape(response) == self.oauth
        assert "access_token" not in response.text

    def assert_v3(self, response: httpx.Response) -> None:
        assert response.status_code == 401, response.text
        assert response.json() == V3_REFUSAL, response.text
        assert answer_shape(response) == self.v3
        assert "accessToken" not in response.text


async def keyloft_claims(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The claims of an access token Keyloft issued, its signature verified with Keyloft's
    published JWKS; its times are not checked against the wall clock, since the node's clock
    may be a test's."""
    kid = jwt.get_unverified_header(token)["kid"]
    keys = (await http.get(KEYLOFT_JWKS)).json()["keys"]
    entry = next(key for key in keys if key["kid"] == kid)
    found: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(entry).key,
        algorithms=[entry.get("alg", "RS256")],
        options={
            "verify_aud": False,
            "verify_exp": False,
            "verify_iat": False,
            "verify_nbf": False,
            "require": ["exp", "iat", "iss", "sub", "jti"],
        },
    )
    return found


async def read_client(http: httpx.AsyncClient, auth: Mapping[str, str], key: str) -> Any:
    answer = await http.get(f"{CLIENTS}/{key}", headers=dict(auth))
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]
