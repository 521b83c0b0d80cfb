"""Periodic work inside the service: one task per job, started with the app and cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger("conference.background")


@contextlib.asynccontextmanager
async def periodic(name: str, every_seconds: float, work: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run ``work`` now and then every ``every_seconds``; a failed round is logged and retried later."""

    async def loop() -> None:
        while True:
            try:
                await work()
            except Exception:  # one failed round must not stop the later ones
                log.exception("%s failed; retrying in %s seconds", name, every_seconds)
            await asyncio.sleep(every_seconds)

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
