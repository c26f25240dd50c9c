"""Persistence: SQLAlchemy tables, repositories implementing the service ports, the unit of
work that turns driver errors into Keyloft's store failures, migrations and SQLite backups."""
