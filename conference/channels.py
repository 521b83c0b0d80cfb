"""News between the service's instances: in-process by default, Redis pub/sub when configured.

Something that happens on one instance may matter to another: a consent revoked through one
instance must take a person out of a room that lives on another. Publishers hand a topic and a
payload to ``Channels.publish``; every instance (the publishing one included) runs the handlers
subscribed to that topic. Delivery is at most once; handlers must be safe to run on any instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

log = logging.getLogger("conference.channels")

Handler = Callable[[bytes], Awaitable[None]]


class Channels:
    """In-process delivery: the embedded default, where one process is the whole service."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Register before ``start``: topics are subscribed once, when the service starts."""
        self._handlers[topic].append(handler)

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._deliver(topic, payload)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def _deliver(self, topic: str, payload: bytes) -> None:
        for handler in list(self._handlers.get(topic, ())):
            try:
                await handler(payload)
            except Exception:
                # One failing handler must not keep the news from the others, nor stop the listener.
                log.exception("a handler for %s failed", topic)


class RedisChannels(Channels):
    """Every instance subscribed to the same Redis sees what any of them publishes."""

    def __init__(self, redis: Redis, prefix: str = "conference:") -> None:
        super().__init__()
        self._redis = redis
        self._prefix = prefix
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, topic: str, payload: bytes) -> None:
        await self._redis.publish(self._prefix + topic, payload)

    async def start(self) -> None:
        if not self._handlers or self._listener is not None:
            return
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(*(self._prefix + topic for topic in self._handlers))
        self._listener = asyncio.create_task(self._listen(pubsub), name="channels-listener")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(timeout=None)
                except (RedisConnectionError, OSError):
                    # redis-py reconnects and re-subscribes on the next read; don't spin meanwhile.
                    log.warning("lost the connection to Redis; retrying")
                    await asyncio.sleep(1)
                    continue
                if message is None or message.get("type") != "message":
                    continue
                channel = message["channel"]
                topic = (channel.decode() if isinstance(channel, bytes) else str(channel)).removeprefix(self._prefix)
                await self._deliver(topic, message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
