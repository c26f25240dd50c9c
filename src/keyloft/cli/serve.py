"""``keyloft serve``: check that the deployment can serve (settings, server secret, a signing
key, tracing when asked for, the TLS files when it terminates TLS itself), then run the API
under uvicorn.

With ``--ssl-certfile``/``--ssl-keyfile`` it serves HTTPS; ``--ssl-ca-certs`` adds mutual TLS
(RFC 8705): clients are asked for a certificate, which is optional, but one they present must
chain to those CAs or the handshake fails. The protocol of ``web/tls.py`` then passes the
connection's client certificate to the app (the ASGI TLS extension).
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from keyloft.cli.output import fail
from keyloft.cli.work import with_services
from keyloft.config import Settings
from keyloft.observability import logs, tracing
from keyloft.services.operators import OperatorServices
from keyloft.services.server_secret import MissingServerSecret, require_server_secret

CLIENT_CA_CERTS = "KEYLOFT_CLIENT_CA_CERTS"


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option(help="Serve HTTPS with this certificate (PEM, its chain may follow it)."),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="The private key of --ssl-certfile (PEM, unencrypted).")
    ] = None,
    ssl_ca_certs: Annotated[
        Path | None,
        typer.Option(
            help="Mutual TLS: ask clients for a certificate issued by one of these CAs (PEM). "
            "Optional for clients; also KEYLOFT_CLIENT_CA_CERTS unless that is set."
        ),
    ] = None,
) -> None:
    """Serve the API."""
    import uvicorn

    from keyloft.web.server import SERVER_OPTIONS

    tls = _tls_options(ssl_certfile, ssl_keyfile, ssl_ca_certs)
    notes: dict[str, str] = {}
    if ssl_ca_certs is not None and CLIENT_CA_CERTS not in os.environ:
        # One file configures both: the handshake's CAs, and those Keyloft checks a
        # tls_client_auth certificate against (workers read their settings afresh).
        os.environ[CLIENT_CA_CERTS] = str(ssl_ca_certs.resolve())
        notes[CLIENT_CA_CERTS] = (
            " (taken from --ssl-ca-certs; when that file also holds self-signed client "
            f"certificates, set {CLIENT_CA_CERTS} to the CA certificates alone, or to nothing)"
        )
    settings = _ready_settings(notes)
    # Uvicorn applies the same configuration in each worker; its access log stays off
    # (SERVER_OPTIONS: Keyloft writes its own).
    log_config = logs.configure(settings.log_level, settings.log_format or "json")
    # Worker processes read their settings afresh: tell them how many of them there are.
    os.environ["KEYLOFT_WORKERS"] = str(workers)
    metrics_dir = None
    if workers > 1:
        # Each worker counts into files here, read together at a scrape. Workers are fresh
        # interpreters, so they see this before they first import prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="keyloft-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "keyloft.web.asgi:create",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            log_level=settings.log_level.lower(),
            **(SERVER_OPTIONS | tls),
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _tls_options(
    certfile: Path | None, keyfile: Path | None, ca_certs: Path | None
) -> dict[str, Any]:
    """uvicorn's options for the TLS asked for (none without ``--ssl-certfile``), once its
    files are known to load; else the command ends naming the option at fault."""
    from keyloft.web.tls import TLS_SERVER_OPTIONS

    if certfile is None and keyfile is None:
        if ca_certs is not None:
            fail("--ssl-ca-certs needs --ssl-certfile and --ssl-keyfile (mutual TLS is TLS)")
        return {}
    if certfile is None or keyfile is None:
        fail("--ssl-certfile and --ssl-keyfile go together")
    for option, path in (
        ("--ssl-certfile", certfile),
        ("--ssl-keyfile", keyfile),
        ("--ssl-ca-certs", ca_certs),
    ):
        if path is not None and not path.is_file():
            fail(f"{option}: no such file: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key would make OpenSSL prompt for its password: refuse it instead.
        context.load_cert_chain(certfile, keyfile, password=_no_password)
    except (OSError, ssl.SSLError, ValueError) as exc:
        fail(f"--ssl-certfile/--ssl-keyfile: cannot load the certificate and its key: {exc}")
    options: dict[str, Any] = {"ssl_certfile": str(certfile), "ssl_keyfile": str(keyfile)}
    if ca_certs is not None:
        try:
            context.load_verify_locations(cafile=ca_certs)
        except (OSError, ssl.SSLError, ValueError) as exc:
            fail(f"--ssl-ca-certs: cannot load CA certificates: {exc}")
        options |= {"ssl_ca_certs": str(ca_certs), "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    return options | TLS_SERVER_OPTIONS


def _no_password() -> bytes:
    raise ValueError("the key is encrypted; give an unencrypted key")


def _ready_settings(notes: dict[str, str] | None = None) -> Settings:
    """The settings, once the deployment is known to be able to serve; else the command
    ends saying why (with ``notes`` on the variables serve set itself)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        fail("invalid settings: " + _problems(exc, notes or {}))
    try:
        require_server_secret(settings)
    except MissingServerSecret as exc:
        fail(str(exc))
    if with_services(settings, _signing_keys) == 0:
        fail("the database has no signing key: run `keyloft init`")
    if settings.otel_endpoint:
        try:
            tracing.ensure_available()
        except tracing.TracingUnavailable as exc:
            fail(str(exc))
    return settings


def _problems(exc: ValidationError, notes: dict[str, str]) -> str:
    # Name the variables, never echo their values: some are secrets.
    names = [str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()]
    variables = [name if name.isupper() else "KEYLOFT_" + name.upper() for name in names]
    return "; ".join(
        f"{variable}: {error['msg']}{notes.get(variable, '')}"
        for variable, error in zip(variables, exc.errors(), strict=True)
    )


async def _signing_keys(services: OperatorServices) -> int:
    return await services.keys.count()
