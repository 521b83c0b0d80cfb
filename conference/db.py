"""Database engine, declarative base and migrations.

Every table shares advanced-alchemy's registry so the key-value store it provides (sessions,
rate limits) and our own tables live in one metadata with one naming convention, and one set of
Alembic migrations covers them all.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from advanced_alchemy.base import AdvancedDeclarativeBase, orm_registry
from advanced_alchemy.extensions.litestar.store import StoreModelMixin
from advanced_alchemy.types import DateTimeUTC
from alembic import command
from alembic.config import Config
from sqlalchemy import Integer, MetaData, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncAttrs,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry

from conference.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(AdvancedDeclarativeBase, AsyncAttrs):
    """Base of every table: UUID keys that reveal nothing, and timestamps stored in UTC."""

    __abstract__ = True

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow)


class Versioned:
    """Optimistic locking: a stale update raises ``StaleDataError`` instead of losing an edit."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utcnow, onupdate=utcnow)

    __mapper_args__: dict[str, Any] = {"version_id_col": version}


class KeyValueEntry(StoreModelMixin):
    """Server-side sessions and sign-in counters when Redis is not configured."""

    __tablename__ = "key_value_store"


metadata: MetaData = orm_registry.metadata


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        _ensure_sqlite_directory(settings.database_url)
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(settings.database_url, pool_pre_ping=True)


def create_sqlite_store_engine(settings: Settings) -> AsyncEngine:
    """A separate SQLite file for sessions and sign-in counters in the embedded setup.

    The main SQLite database takes its write lock when a transaction begins; the store writes
    from connections of its own while a request's transaction is open, so sharing a file would
    make the two wait on each other.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(f"sqlite+aiosqlite:///{settings.data_dir / 'sessions.db'}")
    event.listen(engine.sync_engine, "connect", _sqlite_store_pragmas)
    return engine


def _sqlite_store_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Transactions are begun by _sqlite_begin_immediate, not by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection: Connection) -> None:
    # Taking the write lock when a transaction starts, rather than at its first write, means a
    # transaction never reads a snapshot that a concurrent writer has already made stale: writers
    # queue (up to busy_timeout) instead of failing, and the audit chain stays linear.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def load_models() -> None:
    """Import every capability's tables so the metadata is complete (migrations, tests)."""
    import conference.audit.models
    import conference.consent.models
    import conference.mail
    import conference.minutes.models
    import conference.people.models
    import conference.plans.models
    import conference.rtc.models
    import conference.scheduling.models  # noqa: F401


def _ensure_sqlite_directory(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@asynccontextmanager
async def session_scope(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One transaction on a short-lived engine, for commands run outside the web service."""
    engine = create_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run on every start."""
    command.upgrade(alembic_config(settings), revision)


async def upgrade_database_async(settings: Settings, revision: str = "head") -> None:
    # Alembic's env runs its own event loop, so it needs a thread of its own.
    await asyncio.to_thread(upgrade_database, settings, revision)


# ---- work that must wait for a commit -----------------------------------------------------------

_AFTER_COMMIT = "conference.after_commit"
_LISTENING = "conference.after_commit.listening"
_running_after_commit: set[asyncio.Task[None]] = set()


def after_commit(session: AsyncSession, work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work`` once the session's current transaction commits; forget it if it rolls back.

    For news that others act on (another instance, another connection): telling them before the
    commit would let them read the old state, or act on a change that is then rolled back.
    """
    sync_session = session.sync_session
    sync_session.info.setdefault(_AFTER_COMMIT, []).append(work)
    if not sync_session.info.get(_LISTENING):
        sync_session.info[_LISTENING] = True
        event.listen(sync_session, "after_commit", _run_after_commit)
        event.listen(sync_session, "after_rollback", _forget_after_commit)


def _run_after_commit(sync_session: Session) -> None:
    loop = asyncio.get_running_loop()
    for work in sync_session.info.pop(_AFTER_COMMIT, []):
        task = loop.create_task(_logged(work))
        _running_after_commit.add(task)
        task.add_done_callback(_running_after_commit.discard)


async def _logged(work: Callable[[], Awaitable[None]]) -> None:
    try:
        await work()
    except Exception:
        # Nobody awaits this task; the error would otherwise surface only as a warning at exit.
        logging.getLogger("conference.db").exception("work after a commit failed")


def _forget_after_commit(sync_session: Session) -> None:
    sync_session.info.pop(_AFTER_COMMIT, None)
