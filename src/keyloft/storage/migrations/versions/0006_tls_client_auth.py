"""tls_client_auth (RFC 8705 §2.1): the name a client's certificate must carry — which kind
(subject_dn, san_dns, san_uri, san_ip or san_email) and its value; both NULL for clients of
other methods.

A downgrade drops the two columns. Clients that authenticate with tls_client_auth are kept:
the release before this one knows no such method and refuses their token requests
(invalid_client), until they are switched to another method or deleted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tls_client_auth_name_type", sa.String(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("tls_client_auth_name", sa.String(length=2048), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("tls_client_auth_name")
        batch_op.drop_column("tls_client_auth_name_type")
