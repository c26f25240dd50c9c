"""Dynamic client registration (RFC 7591/7592): ``client_registrations``, one row per client
registered at ``/oauth2/register`` — the keyed hash of its registration access token and the
authentication method it registered.

A downgrade drops the table. The clients stay, and keep working through the management API;
their registration access tokens are gone with the table.

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-15 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "client_registrations",
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=32), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_registrations_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_registrations")),
    )


def downgrade() -> None:
    op.drop_table("client_registrations")
