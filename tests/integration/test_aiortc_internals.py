"""Each reach into aiortc's internals, exercised against the pinned release: an upgrade that moves
any of them fails here, loudly, rather than in a meeting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import aiortc
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver

from conference.rtc import aiortc_internals
from conference.rtc.aiortc_internals import EncodedFrame, UnsupportedAiortc
from conference.rtc.client import SyntheticVideo


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    aiortc_internals.advertise_only(["127.0.0.1"])
    yield
    aiortc_internals.advertise_only(None)


def test_the_pinned_release_is_the_one_installed() -> None:
    aiortc_internals.ensure_supported()


def test_another_release_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(UnsupportedAiortc, match="written for"):
        aiortc_internals.ensure_supported()


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is fed by aiortc callbacks, not an event
            await asyncio.sleep(0.02)


async def _pair() -> tuple[RTCPeerConnection, RTCPeerConnection]:
    return RTCPeerConnection(RTCConfiguration(iceServers=[])), RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def test_encoded_frames_are_tapped_and_keyframe_requests_reach_the_sender() -> None:
    sender_pc, receiver_pc = await _pair()
    frames: list[tuple[str, EncodedFrame]] = []
    requests: list[float] = []
    receivers: list[RTCRtpReceiver] = []
    transceiver = sender_pc.addTransceiver(SyntheticVideo(), direction="sendonly")
    aiortc_internals.on_keyframe_request(transceiver.sender, lambda: requests.append(1.0))

    @receiver_pc.on("track")
    def on_track(track: aiortc.MediaStreamTrack) -> None:
        receiver = next(t.receiver for t in receiver_pc.getTransceivers() if t.receiver.track is track)
        aiortc_internals.tap_encoded_frames(receiver, lambda codec, frame: frames.append((codec.mimeType, frame)))
        receivers.append(receiver)

    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        await _until(lambda: len(frames) >= 10, 15)
        mime, first = frames[0]
        assert mime == "video/VP8" and first.keyframe and first.data
        assert not all(frame.keyframe for _, frame in frames)  # later frames refer to earlier ones
        assert receivers[0].track._queue.empty()  # type: ignore[attr-defined]  # nothing was decoded

        with pytest.raises(UnsupportedAiortc, match="already started"):
            aiortc_internals.tap_encoded_frames(receivers[0], lambda codec, frame: None)

        # The sender's own keyframe logic is bypassed; the listener hears the request instead.
        assert aiortc_internals.request_keyframe(receivers[0])
        await _until(lambda: bool(requests), 5)
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_candidates_are_gathered_only_on_the_chosen_addresses() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates
        assert all(" 127.0.0.1 " in line for line in candidates)
    finally:
        await pc.close()
