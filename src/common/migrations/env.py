"""Alembic environment: runs on the connection handed in by :mod:`common.db.migrate`, or on
the configured database when Alembic is driven some other way."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from common.db.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from common.config_manager import get_config
    from common.db.engine import create_db_engine

    engine = create_db_engine(get_config().database)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
