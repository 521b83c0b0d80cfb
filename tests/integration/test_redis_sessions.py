"""With Redis configured, sessions and sign-in limits are shared by every service instance."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from litestar.testing import AsyncTestClient

from conference.app import create_app
from tests.conftest import BASE_URL
from tests.support.clinic import post_form, sign_in

REDIS_URL = os.environ.get("CONFERENCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_settings(settings):  # type: ignore[no-untyped-def]
    client = redis.from_url(REDIS_URL)
    try:
        await client.flushdb()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is required for the test suite and is not reachable at {REDIS_URL}: {error}")
    yield dataclasses.replace(settings, redis_url=REDIS_URL)
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def two_instances(redis_settings) -> AsyncIterator[tuple[AsyncTestClient, AsyncTestClient]]:  # type: ignore[no-untyped-def]
    async with (
        AsyncTestClient(create_app(redis_settings), base_url=BASE_URL) as first,
        AsyncTestClient(create_app(redis_settings), base_url=BASE_URL) as second,
    ):
        yield first, second


async def test_a_session_started_on_one_instance_works_on_another(two_instances, clinic) -> None:
    first, second = two_instances
    await sign_in(first, "theo@clinic.test")
    client = redis.from_url(REDIS_URL)
    keys = await client.keys("conference:sessions*")
    await client.aclose()
    assert keys, "the session should live in Redis"
    second.cookies.update(first.cookies)
    page = await second.get("/")
    assert page.status_code == 200
    assert "Pat Patient" in page.text


async def test_sign_in_limits_count_across_instances(two_instances, clinic) -> None:
    first, second = two_instances
    for client in (first, second, first, second, first):
        response = await post_form(client, "/sign-in", {"email": "priya@clinic.test", "password": "wrong guess"})
        assert response.status_code == 401
    blocked = await post_form(second, "/sign-in", {"email": "priya@clinic.test", "password": "wrong guess"})
    assert blocked.status_code == 429
