"""Raw signing rates on one core, in process: the ceiling of the token path.

Signs a message the size of a Keyloft access token's signing input with `cryptography`
(RSA-2048 PKCS#1 v1.5 SHA-256 for RS256, P-256 SHA-256 for ES256, Ed25519 for EdDSA), and
signs whole tokens with Keyloft's own key ring (each algorithm, keys loaded once), so
the gap between the two is what building a JWT costs above the signature. The process pins
itself to one core.

    .venv/bin/python bench/signing.py [--seconds 2] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from keyloft.domain.signing import KeyRing, generate_signing_key

# About the length of a v3 token's header and claims, base64url-encoded.
MESSAGE = b"e" * 620


def _rate(operation: Callable[[], object], seconds: float) -> float:
    operation()
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            operation()
        done += 20
    return done / elapsed


def rates(seconds: float) -> dict[str, float]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ring = KeyRing([generate_signing_key(datetime.now(UTC))])
    now = int(time.time())
    claims = {
        "iss": "http://keyloft.bench",
        "sub": "k" * 25,
        "iat": now,
        "exp": now + 3600,
        "jti": "j" * 22,
        "client_id": 7,
        "client_key": "k" * 25,
        "org_id": 1,
        "default_till": 2,
        "token_use": "token_access",
        "scopes": [
            {"entityId": 2, "entity": "All", "permission": "READWRITE", "resources": []},
            {"entityId": 1, "entity": "TargetGroups", "permission": "READ", "resources": []},
        ],
    }
    return {
        "rs256": _rate(lambda: rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256()), seconds),
        "es256": _rate(lambda: ec_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256())), seconds),
        "eddsa": _rate(lambda: ed_key.sign(MESSAGE), seconds),
        "keyring_rs256": _rate(lambda: ring.sign(claims), seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    options = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    found = rates(options.seconds)
    if options.json:
        print(json.dumps(found))
        return
    for name, rate in found.items():
        print(f"{name:<14} {rate:>10,.0f} signatures/s (one core)")


if __name__ == "__main__":
    main()
