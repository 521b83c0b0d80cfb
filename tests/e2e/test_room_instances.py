"""Two service instances sharing PostgreSQL and Redis: news reaches the instance that holds the room."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from conference.rtc import aiortc_internals, signaling
from conference.rtc.client import RoomClient
from tests.conftest import _truncate_all
from tests.e2e.conftest import LiveServer, StartServer
from tests.support.live_room import ROOM_ENV, narrow_consent_to, signal_url, staff_cookies, staff_email

REDIS_URL = os.environ.get("CONFERENCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    aiortc_internals.advertise_only(["127.0.0.1"])
    yield
    aiortc_internals.advertise_only(None)


@pytest.fixture
async def shared_redis() -> AsyncIterator[str]:
    client = redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is required for the test suite and is not reachable at {REDIS_URL}: {error}")
    yield REDIS_URL
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def two_instances(
    start_server: StartServer, postgres_database: str, shared_redis: str
) -> tuple[LiveServer, LiveServer]:
    await _truncate_all(postgres_database)
    env = {
        **ROOM_ENV,
        "CONFERENCE_DATABASE_URL": postgres_database,
        "CONFERENCE_REDIS_URL": shared_redis,
        # Both instances must read each other's session cookies.
        "CONFERENCE_SECRET_KEY": secrets.token_urlsafe(48),
    }
    loop = asyncio.get_running_loop()
    media = await loop.run_in_executor(None, lambda: start_server(env, demo_args=("--meeting-now",)))
    other = await loop.run_in_executor(None, lambda: start_server(env, demo=media.demo))
    return media, other


def _client(server: LiveServer, team_role: str) -> RoomClient:
    email = staff_email(server.demo, team_role)
    cookies = staff_cookies(server.base_url, email, server.password(email))
    return RoomClient(signal_url(server.base_url, server.demo["meeting_now"]["room_url"]), cookies=cookies)


async def test_a_consent_revoked_through_one_instance_takes_the_person_out_of_a_room_on_another(
    two_instances: tuple[LiveServer, LiveServer],
) -> None:
    media, other = two_instances
    therapist, prescriber = _client(media, "primary_therapist"), _client(media, "prescriber")
    try:
        await therapist.start()
        await therapist.wait_until(lambda c: c.state == "in-room")
        await prescriber.start()
        await prescriber.wait_until(lambda c: c.state == "in-room")

        # The consent changes through the instance that does not hold the room.
        await asyncio.get_running_loop().run_in_executor(
            None, narrow_consent_to, other.base_url, other.demo, ["primary_therapist", "case_manager"]
        )

        await prescriber.wait_until(lambda c: c.state == "ended")
        removed = next(m for m in prescriber.messages if isinstance(m, signaling.Removed))
        assert removed.code == "consent"
        assert therapist.state == "in-room"
    finally:
        for client in (therapist, prescriber):
            await client.stop()
