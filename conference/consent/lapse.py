"""A background task that acts on consents as they end or expire, once each, on any instance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from conference.consent.service import process_lapsed
from conference.settings import Settings

log = logging.getLogger("conference.consent")


async def sweep_once(engine: AsyncEngine, settings: Settings) -> int:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        return len(await process_lapsed(session, settings))


@contextlib.asynccontextmanager
async def lapse_sweeper(engine: AsyncEngine, settings: Settings) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            try:
                processed = await sweep_once(engine, settings)
                if processed:
                    log.info("acted on %d consents that ended", processed)
            except Exception:  # a failed sweep must not stop later ones
                log.exception("consent sweep failed; retrying later")
            await asyncio.sleep(settings.consent_sweep_seconds)

    task = asyncio.create_task(loop(), name="consent-lapse-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
