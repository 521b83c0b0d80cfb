"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), the app, a clinic."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conference.app import create_app
from conference.db import create_engine, metadata, upgrade_database
from conference.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("CONFERENCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BASE_URL = "http://testserver.local"


def _settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=secrets.token_urlsafe(32),
        base_url=BASE_URL,
        # Tests call the consent sweep themselves, so a background sweep never races them.
        consent_sweep_seconds=3600,
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test copies the file, which is much faster than migrating again."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    upgrade_database(_settings(directory, f"sqlite+aiosqlite:///{directory / 'template.db'}"))
    return directory / "template.db"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own on the local server, migrated once, dropped at the end.

    A missing server is an error, never a skip: the suite must prove itself on PostgreSQL.
    """
    name = f"conference_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL is required for the test suite and is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    upgrade_database(_settings(Path("."), url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "conference.db"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_database")
    asyncio.run(_truncate_all(url))
    return url


async def _truncate_all(url: str) -> None:
    engine = create_engine(_settings(Path("."), url))
    try:
        async with engine.begin() as connection:
            tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return _settings(tmp_path, database_url)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        yield client


def new_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
async def clinic(session: AsyncSession):  # type: ignore[no-untyped-def]
    from tests.support.clinic import build_clinic

    return await build_clinic(session)
