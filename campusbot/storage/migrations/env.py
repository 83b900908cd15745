"""Alembic environment: runs on the engine campusbot hands over in the config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from campusbot.storage.rows import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through 'campusbot db upgrade'")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
