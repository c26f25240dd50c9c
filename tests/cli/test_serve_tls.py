"""``keyloft serve --ssl-certfile --ssl-keyfile --ssl-ca-certs``: unusable combinations and
files are refused naming the option, before anything is served; usable ones reach uvicorn with
client certificates asked for but optional, Keyloft's TLS protocol, and the CA file also as
KEYLOFT_CLIENT_CA_CERTS unless that is set."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.certificates import CertificateAuthority, Issued, self_signed
from tests.support.cli import Invoke

CA_SETTING = "KEYLOFT_CLIENT_CA_CERTS"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What uvicorn.run was called with (it is not run), and the environment then; the
    variables serve sets are put back afterwards."""
    for name in (CA_SETTING, "KEYLOFT_WORKERS", "PROMETHEUS_MULTIPROC_DIR"):
        monkeypatch.setenv(name, "")  # recorded, so that undoing restores the original
        monkeypatch.delenv(name)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        "uvicorn.run", lambda *args, **kwargs: calls.append(kwargs | {"env": dict(os.environ)})
    )
    return calls


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    directory = tmp_path / "tls"
    directory.mkdir()
    return CertificateAuthority(directory)


@pytest.fixture
def server(ca: CertificateAuthority) -> Issued:
    return ca.issue("server", server=True)


def _refused(result: Any, *phrases: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("options", "phrases"),
    [
        (["--ssl-certfile", "{cert}"], ["--ssl-certfile and --ssl-keyfile go together"]),
        (["--ssl-keyfile", "{key}"], ["--ssl-certfile and --ssl-keyfile go together"]),
        (["--ssl-ca-certs", "{ca}"], ["--ssl-ca-certs needs --ssl-certfile"]),
        (
            ["--ssl-certfile", "{missing}", "--ssl-keyfile", "{key}"],
            ["--ssl-certfile: no such file", "missing.pem"],
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{missing}"],
            ["--ssl-keyfile: no such file", "missing.pem"],
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs", "{missing}"],
            ["--ssl-ca-certs: no such file", "missing.pem"],
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{tls}"],  # a directory
            ["--ssl-keyfile: no such file"],
        ),
        (
            ["--ssl-certfile", "{key}", "--ssl-keyfile", "{key}"],  # a key is no certificate
            ["--ssl-certfile/--ssl-keyfile: cannot load the certificate and its key"],
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{other_key}"],  # not its key
            ["--ssl-certfile/--ssl-keyfile: cannot load the certificate and its key"],
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{key}", "--ssl-ca-certs", "{garbage}"],
            ["--ssl-ca-certs: cannot load CA certificates"],
        ),
    ],
)
def test_unusable_tls_options_are_refused_naming_the_option(
    initialised: Invoke,
    ca: CertificateAuthority,
    server: Issued,
    started: list[dict[str, Any]],
    options: list[str],
    phrases: list[str],
) -> None:
    directory = ca.directory
    (directory / "garbage.pem").write_text("not a certificate\n")
    other = ca.issue("other")
    paths = {
        "cert": server.certfile,
        "key": server.keyfile,
        "ca": ca.certfile,
        "missing": directory / "missing.pem",
        "tls": directory,
        "other_key": other.keyfile,
        "garbage": directory / "garbage.pem",
    }
    result = initialised("serve", *(option.format(**paths) for option in options))
    _refused(result, *phrases)
    assert started == []
    assert CA_SETTING not in os.environ


def test_an_encrypted_key_is_refused_instead_of_prompting(
    initialised: Invoke, server: Issued, started: list[dict[str, Any]]
) -> None:
    encrypted = server.keyfile.with_name("encrypted.key")
    encrypted.write_bytes(
        server.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    result = initialised(
        "serve", "--ssl-certfile", str(server.certfile), "--ssl-keyfile", str(encrypted)
    )
    _refused(result, "--ssl-certfile/--ssl-keyfile", "encrypted")
    assert started == []


def test_tls_without_client_certificates(
    initialised: Invoke, server: Issued, started: list[dict[str, Any]]
) -> None:
    result = initialised(
        "serve", "--ssl-certfile", str(server.certfile), "--ssl-keyfile", str(server.keyfile)
    )
    assert result.exit_code == 0, result.output
    (run,) = started
    assert run["ssl_certfile"] == str(server.certfile)
    assert run["ssl_keyfile"] == str(server.keyfile)
    assert "ssl_ca_certs" not in run
    assert run.get("ssl_cert_reqs", ssl.CERT_NONE) == ssl.CERT_NONE
    assert run["http"] == "keyloft.web.tls:HttpsProtocol"
    assert CA_SETTING not in run["env"]


def test_mutual_tls_asks_for_an_optional_certificate_and_sets_the_ca_setting(
    initialised: Invoke, ca: CertificateAuthority, server: Issued, started: list[dict[str, Any]]
) -> None:
    result = initialised(
        "serve",
        "--ssl-certfile",
        str(server.certfile),
        "--ssl-keyfile",
        str(server.keyfile),
        "--ssl-ca-certs",
        str(ca.certfile),
    )
    assert result.exit_code == 0, result.output
    (run,) = started
    assert run["ssl_ca_certs"] == str(ca.certfile)
    assert run["ssl_cert_reqs"] == ssl.CERT_OPTIONAL
    assert run["http"] == "keyloft.web.tls:HttpsProtocol"
    assert run["env"][CA_SETTING] == str(ca.certfile.resolve())


def test_an_explicit_ca_setting_is_kept(
    initialised: Invoke,
    ca: CertificateAuthority,
    server: Issued,
    started: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = CertificateAuthority(ca.directory, "tls-client-auth")
    monkeypatch.setenv(CA_SETTING, str(other.certfile))
    result = initialised(
        "serve",
        "--ssl-certfile",
        str(server.certfile),
        "--ssl-keyfile",
        str(server.keyfile),
        "--ssl-ca-certs",
        str(ca.certfile),
    )
    assert result.exit_code == 0, result.output
    (run,) = started
    assert run["ssl_ca_certs"] == str(ca.certfile)
    assert run["env"][CA_SETTING] == str(other.certfile)


def test_self_signed_client_certificates_in_the_ca_file_need_the_ca_setting_named(
    initialised: Invoke,
    ca: CertificateAuthority,
    server: Issued,
    started: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Such a file gets self-signed certificates through the handshake, but they are no
    issuers for tls_client_auth: serve says which setting to give instead."""
    bundle = ca.directory / "with-self-signed.pem"
    bundle.write_bytes(ca.issued.pem + self_signed(ca.directory, "partner").pem)
    options = [
        "serve",
        "--ssl-certfile",
        str(server.certfile),
        "--ssl-keyfile",
        str(server.keyfile),
        "--ssl-ca-certs",
        str(bundle),
    ]
    _refused(
        initialised(*options), CA_SETTING, "taken from --ssl-ca-certs", "CA certificates alone"
    )
    assert started == []

    monkeypatch.setenv(CA_SETTING, str(ca.certfile))
    result = initialised(*options)
    assert result.exit_code == 0, result.output
    (run,) = started
    assert run["ssl_ca_certs"] == str(bundle)
    assert run["env"][CA_SETTING] == str(ca.certfile)


def test_plain_http_is_unchanged(initialised: Invoke, started: list[dict[str, Any]]) -> None:
    result = initialised("serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    (run,) = started
    assert run["http"] == "keyloft.web.server:HttpProtocol"
    assert not any(name.startswith("ssl_") for name in run)
    assert CA_SETTING not in run["env"]
