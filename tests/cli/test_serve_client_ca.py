"""KEYLOFT_CLIENT_CA_CERTS, the CAs of tls_client_auth: a bundle that cannot serve stops
``keyloft serve`` before anything is served, naming the variable; a node is given the one it
reads at start-up; unset, tls_client_auth is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from keyloft.config import Settings
from keyloft.runtime import UnusableClientCa, load_client_trust
from tests.support.certificates import CertificateAuthority, self_signed
from tests.support.cli import Invoke

SETTING = "KEYLOFT_CLIENT_CA_CERTS"


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    directory = tmp_path / "cas"
    directory.mkdir()
    return CertificateAuthority(directory, "client-ca")


def _bundles(ca: CertificateAuthority) -> dict[str, tuple[Path, str]]:
    """Unusable bundles, and what the refusal says of each."""
    directory = ca.directory
    garbage = directory / "garbage.pem"
    garbage.write_text("not a certificate\n")
    mixed = directory / "mixed.pem"
    mixed.write_bytes(ca.issued.pem + self_signed(directory, "leaf").pem)
    return {
        "missing": (directory / "missing.pem", "cannot read"),
        "directory": (directory, "cannot read"),
        "garbage": (garbage, "holds no readable PEM certificate"),
        "not a CA": (mixed, "certificate 2 (CN=leaf) is not a CA certificate"),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "garbage", "not a CA"])
def test_an_unusable_bundle_is_an_invalid_setting(ca: CertificateAuthority, case: str) -> None:
    path, problem = _bundles(ca)[case]
    with pytest.raises(ValidationError) as refused:
        Settings(client_ca_certs=path, _env_file=None)
    [error] = refused.value.errors()
    assert error["loc"] == ("client_ca_certs",)
    assert problem in error["msg"]


def test_a_bundle_of_cas_is_read_into_the_node(ca: CertificateAuthority, tmp_path: Path) -> None:
    intermediate = CertificateAuthority(ca.directory, "issuing", parent=ca)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.issued.pem + intermediate.issued.pem)
    trust = load_client_trust(Settings(client_ca_certs=bundle, _env_file=None))
    assert trust is not None
    assert [c.subject for c in trust.authorities] == [ca.name, intermediate.name]
    assert load_client_trust(Settings(_env_file=None)) is None
    assert Settings(client_ca_certs="  ", _env_file=None).client_ca_certs is None


def test_a_bundle_gone_by_start_up_stops_the_node_naming_the_setting(
    ca: CertificateAuthority, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.issued.pem)
    settings = Settings(client_ca_certs=bundle, _env_file=None)
    bundle.unlink()
    with pytest.raises(UnusableClientCa, match=SETTING):
        load_client_trust(settings)


@pytest.mark.parametrize("case", ["missing", "garbage", "not a CA"])
def test_serve_refuses_an_unusable_bundle_naming_the_setting(
    initialised: Invoke, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    path, problem = _bundles(ca)[case]
    monkeypatch.setenv(SETTING, str(path))
    result = initialised("serve", "--port", "8123")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{SETTING}: " in result.stderr
    assert problem in result.stderr
    assert started == []


def test_serve_starts_with_a_bundle_of_cas(
    initialised: Invoke, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    monkeypatch.setenv(SETTING, str(ca.certfile))
    result = initialised("serve", "--port", "8123")
    assert result.exit_code == 0, result.output
    assert len(started) == 1
