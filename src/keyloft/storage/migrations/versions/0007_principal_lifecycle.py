"""Principals' lifecycle: a soft delete (``deleted_at``; the row stays, so the clients an
admin or Till made, and the audit trail, keep naming it), the last successful login
(``last_login_at``, to the minute), and ``session_epoch``, moved on each password change,
disable, enable and delete so that console sessions opened before it end.

A downgrade drops the three columns. Deleted principals stay inactive (``is_active`` false),
so the release before this one still refuses their logins, but could no longer tell them
from disabled ones; their console sessions end with the epoch.

Revision ID: 0007
Revises: 0006
Create Date: 2027-01-08 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs: on SQLite a default given as a string (not an expression) keeps the
    # batch from recreating the table, which clients' foreign keys to principals would refuse.
    with op.batch_alter_table("principals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # Never a recreated table (see upgrade): SQLite drops plain columns itself (3.35 and later).
    with op.batch_alter_table("principals", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("session_epoch")
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("deleted_at")
