"""Partner governance: client IP allow-lists, mint limits, expiring secrets.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table is recreated (other tables' foreign keys to clients
    # and orgs would refuse that on SQLite).
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ip_allowlist", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("token_rate_limit_per_minute", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("mint_limit_hit_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("secret_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_lifetime", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Never a recreated table (see upgrade): SQLite drops plain columns itself (3.35 and later).
    with op.batch_alter_table("orgs", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("secret_lifetime")
    with op.batch_alter_table("clients", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("secret_expires_at")
        batch_op.drop_column("mint_limit_hit_at")
        batch_op.drop_column("token_rate_limit_per_minute")
        batch_op.drop_column("ip_allowlist")
