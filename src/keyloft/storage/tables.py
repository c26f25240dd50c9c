"""SQLAlchemy 2 table definitions: the schema the Alembic migrations must reproduce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY columns; PostgreSQL gets a BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC instants; hands back timezone-aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrgRow(Base):
    __tablename__ = "orgs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    max_clients: Mapped[int] = mapped_column(Integer)
    max_token_ttl: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Seconds a new or rotated client secret lives unless its request says (NULL: forever).
    secret_lifetime: Mapped[int | None] = mapped_column(Integer, nullable=True)


class PrincipalRow(Base):
    """Admin users and Tills: both sign in with HTTP Basic by their (global) code."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(Id, ForeignKey("orgs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(500), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Deleted (soft): inactive for good; the row stays for the clients and events naming it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The last successful Basic or console login, to the minute; written in batches.
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Moved by every password change, disable, enable and delete: console sessions opened
    # before it end.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class ScopeEntityRow(Base):
    """An org's scope entities, numbered per org (1 TargetGroups, 2 All, 3 Transaction, …)."""

    __tablename__ = "scope_entities"

    org_id: Mapped[int] = mapped_column(Id, ForeignKey("orgs.id"), primary_key=True)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    area_pattern: Mapped[str | None] = mapped_column(String(512), nullable=True)


class ClientRow(Base):
    __tablename__ = "clients"
    __table_args__ = (
        Index(
            "uq_clients_org_valid_name",
            "org_id",
            "name",
            unique=True,
            sqlite_where=text("is_valid"),
            postgresql_where=text("is_valid"),
        ),
        Index("ix_clients_org_id_is_valid", "org_id", "is_valid"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(Id, ForeignKey("orgs.id"))
    client_key: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL for a client that has no secret (private_key_jwt).
    secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    expiration_token_time: Mapped[int] = mapped_column(Integer)
    default_till_id: Mapped[int] = mapped_column(Id, ForeignKey("principals.id"))
    is_valid: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(Id, ForeignKey("principals.id"))
    updated_by_id: Mapped[int] = mapped_column(Id, ForeignKey("principals.id"))
    # When a token was last minted, to the minute; written in batches, never per token.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), server_default="client_secret_basic"
    )
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    tls_client_certificate_bound_access_tokens: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false")
    )
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    jwks_uri: Mapped[str | None] = mapped_column(String(512), nullable=True)
    federated_credentials: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # A tls_client_auth client's certificate name (RFC 8705 §2.1.2): which one (subject_dn,
    # san_dns, san_uri, san_ip or san_email) and its value; both NULL for other methods. One
    # kind and one value, rather than a column per kind: a client has exactly one.
    tls_client_auth_name_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    tls_client_auth_name: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    # Governance (docs/governance.md): the networks token requests may come from (canonical
    # CIDRs; NULL: any), the tokens it may mint a minute (NULL: no limit), and when it last
    # went beyond that, to the minute (written in batches, like last_used_at).
    ip_allowlist: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    token_rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mint_limit_hit_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # When the current secret stops working (RFC 7591 client_secret_expires_at); NULL: never.
    secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CredentialUseRow(Base):
    """When each of a client's credentials (a key by thumbprint, a federated rule by name)
    last minted a token, to the minute; written in batches like the client's own last use."""

    __tablename__ = "client_credential_uses"

    client_id: Mapped[int] = mapped_column(
        Id, ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    credential: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClientRegistrationRow(Base):
    """A client registered at the registration endpoint (RFC 7591): the keyed hash of its
    registration access token (RFC 7592; never the token itself) and the authentication method
    it registered (``client_secret_post`` is kept for the answers; the client itself holds a
    secret usable either way). Clients made otherwise have no row, and no registration."""

    __tablename__ = "client_registrations"

    client_id: Mapped[int] = mapped_column(
        Id, ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(128))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UsedAssertionRow(Base):
    """Client assertions already used (a digest of client and ``jti``), kept until they
    expire: the single-use check when no Redis is shared by the nodes."""

    __tablename__ = "used_assertions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class GrantRow(Base):
    __tablename__ = "client_grants"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "entity_id"],
            ["scope_entities.org_id", "scope_entities.id"],
            name="fk_client_grants_entity_scope_entities",
        ),
    )

    client_id: Mapped[int] = mapped_column(
        Id, ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(Id)
    permission: Mapped[str] = mapped_column(String(16))
    resources: Mapped[list[str]] = mapped_column(JSON)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activates_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RevokedTokenRow(Base):
    """Access tokens revoked before they expire (RFC 7009); rows outlive the token by nothing."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(Id, ForeignKey("clients.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditRow(Base):
    """One change, written in the same transaction as the change itself.

    ``org_id`` is NULL for deployment-wide changes (signing keys, the server secret);
    ``actor_id`` is NULL when an operator made the change from the command line, and
    ``operator`` then names who ran it."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    org_id: Mapped[int | None] = mapped_column(Id, ForeignKey("orgs.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("principals.id"), nullable=True)
    operator: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(128))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)


class WebhookRow(Base):
    """An org's webhook: where to send which events, and its signing secret sealed under the
    server secret (shown once, when it was created)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    org_id: Mapped[int] = mapped_column(Id, ForeignKey("orgs.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDeliveryRow(Base):
    """The outbox and the delivery log: one message to one webhook, written in the transaction
    of the change it tells of; a node claims it for one attempt until ``claimed_until``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        Index(
            "ix_webhook_deliveries_webhook_id_dedupe_key", "webhook_id", "dedupe_key", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(Id, ForeignKey("webhooks.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    # Events raised by a scan rather than a change (a secret expiring) name themselves, so
    # that each is queued once per webhook however often, and on however many nodes, it runs.
    dedupe_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When its 24 hours of retries began: when it was written, or last redelivered.
    retry_from: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClientUsageRow(Base):
    """Counts per client and UTC hour (``keyloft.domain.usage``): tokens issued,
    authentication failures by reason, decisions allowed and denied. Written in batches by
    adding to the row (never a write per request); rows older than the retention are purged.
    No foreign key: a flush must never fail over a client it cannot find."""

    __tablename__ = "client_usage"
    __table_args__ = (
        Index("ix_client_usage_org_id_hour", "org_id", "hour"),
        Index("ix_client_usage_hour", "hour"),
    )

    client_id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    # The reason of an authentication failure; "" for the other metrics.
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_id: Mapped[int] = mapped_column(Id)
    count: Mapped[int] = mapped_column(BigInteger)
