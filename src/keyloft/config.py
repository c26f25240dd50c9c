"""Settings: the only place Keyloft reads its environment (prefix ``KEYLOFT_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keyloft.domain.certificate_trust import ClientCertificateTrust

THIRTY_DAYS = 30 * 24 * 3600


class Settings(BaseSettings):
    """Deployment settings. Build one per process; never at import time."""

    model_config = SettingsConfigDict(env_prefix="KEYLOFT_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./keyloft.db",
        description="sqlite:///PATH (embedded default) or postgresql://user@host:port/db.",
    )
    issuer: str = Field(default="http://127.0.0.1:8000", description="`iss` of every token.")
    audience: str | None = Field(
        default=None,
        description="`aud` of OAuth (RFC 9068) access tokens; default: the issuer.",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Server secret; else read from secret_key_file."
    )
    previous_secret_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated retired server secrets, still accepted during a rotation.",
    )
    secret_key_file: Path | None = Field(
        default=None,
        description="Server secret file; default: keyloft.secret beside the SQLite file.",
    )
    default_max_clients: int = Field(default=15, ge=1, le=100_000)
    default_max_token_ttl: int = Field(default=3600, ge=1, le=THIRTY_DAYS)
    token_ttl_ceiling: int = Field(
        default=THIRTY_DAYS, ge=1, le=THIRTY_DAYS, description="No org may allow more."
    )
    key_publish_delay_seconds: int = Field(
        default=600,
        ge=0,
        le=THIRTY_DAYS,
        description="How long `keyloft keys rotate` publishes a new signing key before it "
        "signs: at least the JWKS cache lifetime (max-age=300) plus a node's refresh (60 s).",
    )
    signing_algorithm: Literal["RS256", "ES256", "EdDSA"] = Field(
        default="RS256",
        description="Algorithm of the first signing key (`keyloft init`) and of rotated ones "
        "(`keyloft keys rotate`): RS256, ES256 or EdDSA.",
    )
    basic_auth_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = Field(default="INFO", description="CRITICAL, ERROR, WARNING, INFO or DEBUG.")
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        description="json (one object per line) or text; default: json for `keyloft serve`.",
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics.")
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, GET /metrics needs `Authorization: Bearer` it."
    )
    metrics_multiprocess_dir: Path | None = Field(
        default=None,
        validation_alias="PROMETHEUS_MULTIPROC_DIR",
        description="Shared by worker processes for their metrics; `keyloft serve` sets it.",
    )
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KEYLOFT_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="OTLP/HTTP collector base URL; tracing is on only when set.",
    )
    otel_service_name: str = Field(
        default="keyloft",
        validation_alias=AliasChoices("KEYLOFT_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"),
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db: shared cache invalidation and failure counters.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses/CIDRs whose X-Forwarded-For is believed.",
    )
    auth_failure_limit: int = Field(
        default=10, ge=1, description="Failed attempts per client key or login per window."
    )
    auth_failure_ip_limit: int = Field(
        default=50, ge=1, description="Failed attempts per source address per window."
    )
    auth_failure_window_seconds: int = Field(default=300, ge=1, le=86_400)
    workers: int = Field(
        default=1, ge=1, description="Worker processes of this node (set by `keyloft serve`)."
    )
    client_cache_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="Backstop lifetime of cached client state."
    )
    db_pool_size: int = Field(default=10, ge=1, le=200)
    usage_flush_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often a node writes its clients' last use (lastUsedOn), in one batch.",
    )
    usage_retention_days: int = Field(
        default=400,
        ge=1,
        le=3650,
        description="How long usage counts per client and hour are kept (docs/usage.md).",
    )
    client_cert_header: str | None = Field(
        default=None,
        description="The header in which the TLS terminator passes the client's certificate "
        "(URL-encoded PEM, as nginx's $ssl_client_escaped_cert), believed only from "
        "KEYLOFT_TRUSTED_PROXIES; unset: mutual TLS is off.",
    )
    client_ca_certs: Path | None = Field(
        default=None,
        description="A PEM file of the CA certificates that tls_client_auth clients' "
        "certificates must chain to (RFC 8705 §2.1): roots, and the intermediates that issue "
        "client certificates (the TLS terminator passes on the client's own only); each must "
        "be a CA. Read at start-up; unset: tls_client_auth is off.",
    )
    dpop_nonce: Literal["required", "off"] = Field(
        default="off",
        description="required: DPoP proofs must carry a server nonce (RFC 9449 §8), which "
        "rotates every 5 minutes and is valid on every node; off: no nonce is asked.",
    )
    federation_allow_http: bool = Field(
        default=False,
        description="Development and tests only: let client JWKS URIs and federated issuers "
        "use http:// and loopback or private addresses (otherwise https and public only).",
    )
    webhooks_allow_http: bool = Field(
        default=False,
        description="Development and tests only: let webhook URLs use http:// and loopback or "
        "private addresses (otherwise https and public only).",
    )
    webhooks_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often each node looks for webhook messages due to be sent.",
    )
    console_session_seconds: int = Field(
        default=8 * 3600,
        ge=60,
        le=7 * 24 * 3600,
        description="A console session ends this long after sign-in, however active.",
    )
    console_idle_seconds: int = Field(
        default=30 * 60,
        ge=60,
        le=7 * 24 * 3600,
        description="A console session ends after this long without a request.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "sqlite+aiosqlite://", "postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
            raise ValueError("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("client_ca_certs", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("client_ca_certs")
    @classmethod
    def _usable_ca_bundle(cls, value: Path | None) -> Path | None:
        """A bundle that cannot serve stops the start, saying why (never at the first use)."""
        if value is None:
            return None
        try:
            data = value.read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
        try:
            ClientCertificateTrust.from_pem(data)
        except ValueError as exc:
            raise ValueError(f"{value}: {exc}") from None
        return value

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    def previous_secrets(self) -> list[str]:
        raw = self.previous_secret_keys.get_secret_value() if self.previous_secret_keys else ""
        return [part.strip() for part in raw.split(",") if part.strip()]

    def trusted_proxy_list(self) -> list[str]:
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(raw) if raw and raw != ":memory:" else None

    def resolved_secret_key_file(self) -> Path | None:
        """Where the server secret lives when it is not given in the environment."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        db = self.sqlite_path
        return db.with_name("keyloft.secret") if db is not None else None
