"""Run the Alembic migrations programmatically (no alembic.ini, nothing written to disk).

The ``vector`` extension is enabled first when the server has pgvector; plain PostgreSQL
only gets a warning. A PostgreSQL advisory lock serialises concurrent runs (two replicas
starting together). A database that cannot be reached yet (just started, its name not yet
in Docker's DNS) is retried for up to ``CONNECT_WAIT`` seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from common.db.engine import create_db_engine
from common.log import get_logger

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x0B0B_2024
CONNECT_WAIT = 60.0

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


def connect(engine: Engine, wait: float = CONNECT_WAIT) -> Connection:
    """A connection, retrying with back-off while the server cannot be reached."""
    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            return engine.connect()
        except OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "database not reachable yet, retrying",
                error=str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__,
                retry_in=delay,
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def upgrade(url: str, wait: float = CONNECT_WAIT) -> bool:
    """Upgrade the database at ``url`` to head; returns whether pgvector is enabled."""
    engine = create_db_engine(url)
    try:
        with connect(engine, wait) as connection:
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
