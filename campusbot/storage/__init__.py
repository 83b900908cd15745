"""The store: SQLAlchemy 2 rows, Alembic migrations and the repository the core uses."""
