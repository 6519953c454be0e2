"""Run the Alembic migrations programmatically (no alembic.ini, nothing written to disk).

The ``vector`` extension is enabled first when the server has pgvector; plain PostgreSQL
only gets a warning. A PostgreSQL advisory lock serialises concurrent runs (two replicas
starting together).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from common.db.engine import create_db_engine
from common.log import get_logger

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x0B0B_2024

log = get_logger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def enable_vector(connection: Connection) -> bool:
    """``CREATE EXTENSION IF NOT EXISTS vector``; False (with a warning) when unavailable."""
    if connection.dialect.name != "postgresql":
        return False
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    except DBAPIError as exc:
        log.warning(
            "pgvector is not available; continuing without it", error=str(exc.orig).splitlines()[0]
        )
        return False
    return True


def upgrade(url: str) -> bool:
    """Upgrade the database at ``url`` to head; returns whether pgvector is enabled."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            try:
                vector = enable_vector(connection)
                connection.commit()
                command.upgrade(alembic_config(connection), "head")
                connection.commit()
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                    connection.commit()
    finally:
        engine.dispose()
    return vector
