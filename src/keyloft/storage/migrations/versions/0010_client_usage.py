"""Per-client usage by hour: ``client_usage``, one row per client, UTC hour, metric and
reason, holding a count that each usage flush adds to (tokens issued, authentication
failures by reason, decisions allowed and denied).

A downgrade drops the table and the counts with it; nothing else depends on it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "client_usage",
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "client_id", "hour", "metric", "reason", name=op.f("pk_client_usage")
        ),
    )
    op.create_index("ix_client_usage_org_id_hour", "client_usage", ["org_id", "hour"])
    op.create_index("ix_client_usage_hour", "client_usage", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_client_usage_hour", table_name="client_usage")
    op.drop_index("ix_client_usage_org_id_hour", table_name="client_usage")
    op.drop_table("client_usage")
