"""Alembic environment: runs migrations over the connection ``keyloft.storage.migrate`` hands in."""

from __future__ import annotations

from alembic import context

from keyloft.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `keyloft db upgrade`")
run_migrations_online()
