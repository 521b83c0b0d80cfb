"""The forwarding SFU with real aiortc peers on loopback: media flows, nothing is decoded on the server."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from aiortc import AudioStreamTrack

from conference.rtc import aiortc_internals
from conference.rtc.client import MediaClient, SyntheticVideo
from conference.rtc.sfu import MediaRoom, reachable_candidates
from conference.rtc.signaling import Track


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    aiortc_internals.advertise_only(["127.0.0.1"])
    yield
    aiortc_internals.advertise_only(None)


class Harness:
    """A MediaRoom whose offers go straight to in-process MediaClients."""

    def __init__(self) -> None:
        self.clients: dict[uuid.UUID, MediaClient] = {}
        self.failures: list[tuple[uuid.UUID, str]] = []
        self._answering: set[asyncio.Future[None]] = set()
        self.room = MediaRoom(send_offer=self._offer, on_failure=self._failed)

    async def _offer(self, participant: uuid.UUID, sdp: str, tracks: list[Track]) -> None:
        async def answer() -> None:
            reply = await self.clients[participant].subscribe_offer(sdp, tracks)
            await self.room.subscriber_answer(participant, reply)

        task = asyncio.ensure_future(answer())
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _failed(self, participant: uuid.UUID, reason: str) -> None:
        self.failures.append((participant, reason))

    async def join(self, client: MediaClient | None = None) -> tuple[uuid.UUID, MediaClient]:
        participant = uuid.uuid4()
        client = client or MediaClient(audio=AudioStreamTrack(), video=SyntheticVideo())
        self.clients[participant] = client
        sdp, tracks = await client.publish_offer()
        await client.publish_answer(await self.room.publish(participant, sdp, tracks))
        return participant, client

    async def leave(self, participant: uuid.UUID) -> None:
        await self.room.remove(participant)
        await self.clients.pop(participant).close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = Harness()
    yield harness
    await harness.room.close()
    for client in harness.clients.values():
        await client.close()


async def test_each_participant_receives_everyone_elses_audio_and_video(harness: Harness) -> None:
    people = [await harness.join() for _ in range(3)]
    for me, client in people:
        others = [p for p, _ in people if p != me]
        await client.wait_for(
            lambda c=client, o=others: all(  # type: ignore[misc]
                c.frames_from(p, "camera") >= 5 and c.frames_from(p, "microphone") >= 5 for p in o
            ),
            within=20,
        )
    assert not harness.failures
    # The server decodes nothing: its remote tracks never get a frame (the tap takes them all).
    for participant, _ in people:
        sources = harness.room.sources_of(participant)
        assert sources["camera"].frames > 0
        assert sources["camera"].receiver.track._queue.empty()  # type: ignore[attr-defined]


async def test_h264_publisher_reaches_subscribers_as_h264(harness: Harness) -> None:
    publisher, _ = await harness.join(MediaClient(video=SyntheticVideo(), video_codec="video/H264"))
    subscriber, client = await harness.join(MediaClient(audio=AudioStreamTrack()))
    await client.wait_for(lambda: client.frames_from(publisher, "camera") >= 5, within=20)
    assert harness.room.sources_of(publisher)["camera"].key.mime_type == "video/h264"  # type: ignore[union-attr]
    assert client.subscribe_pc is not None
    negotiated = client.subscribe_pc.remoteDescription.sdp
    assert "H264/90000" in negotiated and "VP8/90000" not in negotiated
    del subscriber


async def test_a_shared_screen_arrives_as_its_own_source_beside_the_camera(harness: Harness) -> None:
    presenter, _ = await harness.join(MediaClient(video=SyntheticVideo(), screen=SyntheticVideo(640, 360)))
    viewer, client = await harness.join(MediaClient())
    await client.wait_for(
        lambda: client.frames_from(presenter, "screen") >= 5 and client.frames_from(presenter, "camera") >= 5,
        within=20,
    )
    sources = harness.room.sources_of(presenter)
    assert sources["screen"].frames > 0 and sources["camera"].frames > 0
    # Each stream kept its own frames: neither source took the other's (they would, routed by payload type).
    assert sources["camera"].frames < 1.5 * sources["screen"].frames + 30
    del viewer


async def test_admission_alone_brings_everyone_elses_media_without_publishing_first(harness: Harness) -> None:
    publisher, _ = await harness.join()
    viewer, client = uuid.uuid4(), MediaClient()
    harness.clients[viewer] = client
    harness.room.admit(viewer)  # what the room does on admission, before any offer from the participant
    await client.wait_for(lambda: client.frames_from(publisher, "camera") >= 3, within=20)
    assert client.publish_pc is None
    # Publishing afterwards keeps the subscription it already has.
    sdp, tracks = await client.publish_offer()
    await client.publish_answer(await harness.room.publish(viewer, sdp, tracks))
    frames = client.frames_from(publisher, "camera")
    await client.wait_for(lambda: client.frames_from(publisher, "camera") >= frames + 3, within=20)
    assert not harness.failures


async def test_a_slot_left_by_a_departed_publisher_is_reused(harness: Harness) -> None:
    first, _ = await harness.join()
    viewer, client = await harness.join(MediaClient())
    await client.wait_for(lambda: client.frames_from(first, "camera") >= 3, within=20)
    assert client.subscribe_pc is not None
    sections = len(client.subscribe_pc.getTransceivers())
    await harness.leave(first)
    second, _ = await harness.join()
    await client.wait_for(lambda: client.frames_from(second, "camera") >= 3, within=20)
    assert len(client.subscribe_pc.getTransceivers()) == sections
    del viewer


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_leaving_tears_everything_down(harness: Harness) -> None:
    # Warm up once so lazily created executors and loggers are not counted as leaks.
    a, _ = await harness.join()
    await harness.leave(a)
    await asyncio.sleep(0.2)
    tasks, threads, fds = len(asyncio.all_tasks()), _threads(), _fds()

    people = [await harness.join() for _ in range(2)]
    await people[1][1].wait_for(lambda: people[1][1].frames_from(people[0][0], "camera") >= 3, within=20)
    for participant, _ in people:
        await harness.leave(participant)
    # Closing finishes in the background (transports, decoder threads); give a loaded machine time.
    for _ in range(50):
        if len(asyncio.all_tasks()) <= tasks and _fds() <= fds:
            break
        await asyncio.sleep(0.1)

    assert harness.room.participants == []
    assert len(asyncio.all_tasks()) <= tasks
    assert not {name for name in _threads() - threads if name.endswith("-decoder")}
    assert _fds() <= fds


def test_a_loopback_server_drops_remote_candidates_it_must_never_check() -> None:
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
        "a=candidate:2 1 udp 2122194687 192.0.2.2 50001 typ host\r\n"
        "a=candidate:3 1 udp 2122194687 4c1e2f0a-1111-2222-3333-444455556666.local 50002 typ host\r\n"
        "a=mid:0\r\n"
    )
    kept = reachable_candidates(sdp)  # this module's fixture confines media to 127.0.0.1
    assert "127.0.0.1 50000" in kept and "192.0.2.2" not in kept and ".local" not in kept
    assert "a=mid:0" in kept
    aiortc_internals.advertise_only(None)
    assert reachable_candidates(sdp) == sdp  # a server on every interface pairs with anything
