"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and go both ways."""

from __future__ import annotations

import asyncio
import dataclasses

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.types import TypeDecorator

from conference.db import alembic_config, create_engine, metadata, upgrade_database


def _compare_type(_context, _inspected, _column, _inspected_type, metadata_type) -> bool | None:  # type: ignore[no-untyped-def]
    # A TypeDecorator (UUIDs, UTC timestamps) reflects as its storage type; compare the rest normally.
    return False if isinstance(metadata_type, TypeDecorator) else None


def _differences(settings) -> list[object]:  # type: ignore[no-untyped-def]
    async def run() -> list[object]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": _compare_type}), metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(settings) -> set[str]:  # type: ignore[no-untyped-def]
    async def run() -> set[str]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgraded_schema_matches_the_models(settings) -> None:
    assert _differences(settings) == []


def test_downgrade_and_upgrade_round_trip(settings, tmp_path) -> None:
    if settings.is_sqlite:
        settings = dataclasses.replace(settings, database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        upgrade_database(settings)
    command.downgrade(alembic_config(settings), "base")
    assert _tables(settings) <= {"alembic_version"}
    upgrade_database(settings)
    assert {"person", "patient", "care_team_member", "audit_event", "key_value_store"} <= _tables(settings)
    assert _differences(settings) == []
