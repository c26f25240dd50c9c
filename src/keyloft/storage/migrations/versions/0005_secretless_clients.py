"""Secretless clients: how a client authenticates, its public keys, key set URL and federated
credentials, whether its tokens are bound to a DPoP key or its TLS certificate; when each credential was last used; client
assertions and DPoP proofs already used.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "token_endpoint_auth_method",
                sa.String(length=32),
                nullable=False,
                server_default="client_secret_basic",
            )
        )
        batch_op.add_column(
            sa.Column(
                "dpop_bound_access_tokens",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("false"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "tls_client_certificate_bound_access_tokens",
                sa.Boolean(),
                nullable=False,
                server_default=sa.text("false"),
            )
        )
        batch_op.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("jwks_uri", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("federated_credentials", sa.JSON(), nullable=True))
        batch_op.alter_column("secret_hash", existing_type=sa.String(length=128), nullable=True)

    op.create_table(
        "client_credential_uses",
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("credential", sa.String(length=200), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_credential_uses_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "credential", name=op.f("pk_client_credential_uses")),
    )
    op.create_table(
        "used_assertions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_assertions")),
    )
    op.create_index(
        op.f("ix_used_assertions_expires_at"), "used_assertions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_used_assertions_expires_at"), table_name="used_assertions")
    op.drop_table("used_assertions")
    op.drop_table("client_credential_uses")
    # Secretless clients cannot be kept by a schema that requires a secret.
    op.execute(
        "DELETE FROM client_grants WHERE client_id IN "
        "(SELECT id FROM clients WHERE secret_hash IS NULL)"
    )
    op.execute(
        "DELETE FROM revoked_tokens WHERE client_id IN "
        "(SELECT id FROM clients WHERE secret_hash IS NULL)"
    )
    op.execute("DELETE FROM clients WHERE secret_hash IS NULL")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.alter_column("secret_hash", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column("federated_credentials")
        batch_op.drop_column("jwks_uri")
        batch_op.drop_column("jwks")
        batch_op.drop_column("tls_client_certificate_bound_access_tokens")
        batch_op.drop_column("dpop_bound_access_tokens")
        batch_op.drop_column("token_endpoint_auth_method")
