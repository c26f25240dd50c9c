"""Audit events of operators and of deployment-wide changes; when a client was last used.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 21:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator", sa.String(length=200), nullable=True))
        batch_op.alter_column("org_id", existing_type=_ID, nullable=True)
        batch_op.alter_column("actor_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM audit_events WHERE org_id IS NULL OR actor_id IS NULL")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("actor_id", existing_type=_ID, nullable=False)
        batch_op.alter_column("org_id", existing_type=_ID, nullable=False)
        batch_op.drop_column("operator")

    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
