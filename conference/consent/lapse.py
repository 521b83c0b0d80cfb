"""One round of acting on consents that have ended or expired (the app runs it periodically)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from conference.consent.service import process_lapsed
from conference.settings import Settings


async def sweep_once(engine: AsyncEngine, settings: Settings) -> int:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        return len(await process_lapsed(session, settings))
