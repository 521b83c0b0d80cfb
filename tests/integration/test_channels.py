"""News between instances (Redis pub/sub, and in-process by default), and work held until a commit."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from conference import db
from conference.channels import Channels, RedisChannels

REDIS_URL = os.environ.get("CONFERENCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Inbox:
    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.arrived = asyncio.Event()

    async def __call__(self, payload: bytes) -> None:
        self.items.append(payload)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[bytes]:
        async with asyncio.timeout(5):
            while len(self.items) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.items


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is required for the test suite and is not reachable at {REDIS_URL}: {error}")
    yield client
    await client.aclose()


async def test_every_instance_hears_what_any_instance_publishes(redis_client: redis.Redis) -> None:
    prefix = f"test-{secrets.token_hex(4)}:"
    other_client = redis.from_url(REDIS_URL)  # each instance has its own connection pool
    first, second = RedisChannels(redis_client, prefix), RedisChannels(other_client, prefix)
    heard_first, heard_second, unrelated = Inbox(), Inbox(), Inbox()
    first.subscribe("news", heard_first)
    second.subscribe("news", heard_second)
    second.subscribe("other", unrelated)
    await first.start()
    await second.start()
    try:
        await first.publish("news", b"one")
        await second.publish("news", b"two")
        assert await heard_first.wait_for(2) == [b"one", b"two"]
        assert await heard_second.wait_for(2) == [b"one", b"two"]
        assert unrelated.items == []
    finally:
        await first.close()
        await second.close()
        await other_client.aclose()


async def test_a_failing_handler_neither_silences_the_others_nor_stops_listening(redis_client: redis.Redis) -> None:
    channels = RedisChannels(redis_client, f"test-{secrets.token_hex(4)}:")

    async def broken(_payload: bytes) -> None:
        raise RuntimeError("handler bug")

    inbox = Inbox()
    channels.subscribe("news", broken)
    channels.subscribe("news", inbox)
    await channels.start()
    try:
        await channels.publish("news", b"one")
        await channels.publish("news", b"two")
        assert await inbox.wait_for(2) == [b"one", b"two"]
    finally:
        await channels.close()


async def test_in_process_channels_deliver_to_their_own_subscribers() -> None:
    channels = Channels()
    inbox = Inbox()
    channels.subscribe("news", inbox)
    await channels.start()
    await channels.publish("news", b"one")
    await channels.publish("elsewhere", b"two")
    assert inbox.items == [b"one"]


async def test_work_after_commit_runs_once_committed_and_never_after_a_rollback(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    done: list[str] = []

    def note(label: str) -> db.Callable[[], db.Awaitable[None]]:
        async def work() -> None:
            done.append(label)

        return work

    async with sessions() as session:
        async with session.begin():
            await session.execute(text("SELECT 1"))
            db.after_commit(session, note("committed"))
            await asyncio.sleep(0)
            assert done == []  # not before the commit
        async with session.begin():
            await session.execute(text("SELECT 1"))
            db.after_commit(session, note("rolled back"))
            await session.rollback()
        async with session.begin():
            await session.execute(text("SELECT 1"))
            db.after_commit(session, note("next"))
    for _ in range(3):
        await asyncio.sleep(0)
    assert done == ["committed", "next"]
