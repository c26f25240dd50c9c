"""Persistence: SQLAlchemy tables, repositories implementing the service ports, migrations."""
