"""Alembic environment: runs migrations over the service's own async engine."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from conference.db import create_engine, load_models, metadata
from conference.settings import Settings

load_models()
config = context.config


def _compare_type(*args: Any) -> bool | None:
    # UUID and UTC-timestamp columns reflect as their storage types; only compare plain types.
    return False if isinstance(args[4], TypeDecorator) else None


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=_compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


settings = config.attributes.get("settings") or Settings.from_env()
asyncio.run(_run_online(settings))
