"""Engine and session factory built from :class:`common.settings.DatabaseSettings`."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from common.settings import DatabaseSettings


def create_db_engine(settings: DatabaseSettings | str) -> Engine:
    """A pooled engine; ``settings`` may be a plain URL (tests use SQLite)."""
    url = settings if isinstance(settings, str) else settings.get_url()
    if url.startswith("sqlite"):
        return create_engine(url)
    pool_size = 5 if isinstance(settings, str) else settings.pool_size
    timeout = 5 if isinstance(settings, str) else settings.connect_timeout
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        connect_args={"connect_timeout": timeout, "application_name": "xorb"},
    )


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
