"""A headless room participant with synthetic media, for tests and benchmarks.

``MediaClient`` is the WebRTC half (a publish connection it offers, a subscribe connection it
answers); ``RoomClient`` adds the signaling WebSocket and follows the server: lobby, admission,
renegotiation, heartbeats. Received media is either decoded (as a real participant would) or, for
load tests, only counted as encoded frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import msgspec
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conference.rtc import aiortc_internals, signaling
from conference.rtc.sfu import bundled
from conference.rtc.signaling import Track

VIDEO_CLOCK = 90_000


class SyntheticVideo(VideoStreamTrack):
    """Frames whose brightness cycles, so the encoder has something to encode."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        super().__init__()
        self._frames = []
        for level in range(16, 240, 28):
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(bytes([level]) * frame.planes[0].buffer_size)
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * plane.buffer_size)
            self._frames.append(frame)
        self._cycle = itertools.cycle(self._frames)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = next(self._cycle)
        frame.pts, frame.time_base = pts, time_base
        return frame


class PreEncodedVideo(MediaStreamTrack):
    """Replays encoded VP8 packets at 30 fps: a publisher's load without an encoder's cost."""

    kind = "video"

    def __init__(self, packets: list[tuple[bytes, bool]]) -> None:
        super().__init__()
        self._packets = packets
        self._index = 0
        self._start: float | None = None
        self._skip_to: int | None = None

    def request_keyframe(self) -> None:
        """Answer a keyframe request (PLI) the way an encoder would: the next frame sent is a keyframe."""
        ahead = [i for i in range(len(self._packets)) if self._packets[(self._index + i) % len(self._packets)][1]]
        if ahead:
            self._skip_to = (self._index + ahead[0]) % len(self._packets)

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._index / 30
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        position = self._index % len(self._packets)
        if self._skip_to is not None:
            position, self._skip_to = self._skip_to, None
        data, keyframe = self._packets[position]
        packet = av.Packet(data)
        packet.pts = self._index * (VIDEO_CLOCK // 30)
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        packet.is_keyframe = keyframe
        self._index += 1
        return packet


def encode_vp8(
    seconds: float, *, bitrate: int = 1_000_000, width: int = 640, height: int = 480
) -> list[tuple[bytes, bool]]:
    """A loop of VP8 frames at about ``bitrate`` (keyframe every 3 s), made once before a benchmark."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate, codec.framerate = bitrate, fractions.Fraction(30, 1)
    codec.time_base = fractions.Fraction(1, 30)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": "90"}
    packets: list[tuple[bytes, bool]] = []
    random.seed(1)  # the same load in every run
    total = int(seconds * 30)
    for index in range(total):
        frame = av.VideoFrame(width, height, "yuv420p")
        # Moving stripes with a band of noise: enough detail that the encoder spends the bitrate.
        row = bytes((x * 7 + index * 11) % 256 for x in range(width))
        band = height // 20
        frame.planes[0].update(row * (height - band) + random.randbytes(width * band))  # noqa: S311 - test media
        for plane in frame.planes[1:]:
            plane.update(bytes([(index * 3) % 256]) * plane.buffer_size)
        frame.pts = index
        for packet in codec.encode(frame):
            packets.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in codec.encode(None):
        packets.append((bytes(packet), bool(packet.is_keyframe)))
    return packets


@dataclass
class Received:
    """What arrived from one source of one remote participant."""

    kind: str
    frames: int = 0
    first_frame_at: float | None = None


@dataclass
class MediaClient:
    """The WebRTC side of a participant."""

    configuration: RTCConfiguration = field(default_factory=lambda: RTCConfiguration(iceServers=[]))
    audio: MediaStreamTrack | None = None
    video: MediaStreamTrack | None = None
    screen: MediaStreamTrack | None = None  # a shared screen, from the start
    decode: bool = True
    video_codec: str | None = None  # e.g. "video/H264" to publish H.264 instead of VP8
    received: dict[tuple[uuid.UUID, str], Received] = field(default_factory=dict)
    publish_pc: RTCPeerConnection | None = None
    subscribe_pc: RTCPeerConnection | None = None
    _mids: dict[str, Track] = field(default_factory=dict)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def publish_offer(self) -> tuple[str, list[Track]]:
        pc = self.publish_pc = RTCPeerConnection(bundled(self.configuration))
        pc.addTransceiver(self.audio or "audio", direction="sendonly")
        video = pc.addTransceiver(self.video or "video", direction="sendonly")
        if isinstance(self.video, PreEncodedVideo):
            aiortc_internals.on_keyframe_request(video.sender, self.video.request_keyframe)
        pc.addTransceiver(self.screen or "video", direction="sendonly")  # without a screen, idle
        if self.video_codec:
            wanted = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == self.video_codec]
            video.setCodecPreferences(wanted)
        await pc.setLocalDescription(await pc.createOffer())
        transceivers = pc.getTransceivers()
        sources: list[signaling.Source] = ["microphone", "camera", "screen"]
        tracks = [Track(mid=t.mid or "", source=s) for t, s in zip(transceivers, sources, strict=True)]
        return pc.localDescription.sdp, tracks

    async def publish_answer(self, sdp: str) -> None:
        assert self.publish_pc is not None
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def subscribe_offer(self, sdp: str, tracks: list[Track]) -> str:
        if self.subscribe_pc is None:
            pc = self.subscribe_pc = RTCPeerConnection(bundled(self.configuration))

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                transceiver = next(t for t in pc.getTransceivers() if t.receiver.track is track)
                mid = transceiver.mid or ""
                if self.decode:
                    self._readers.append(asyncio.ensure_future(self._read(mid, track)))
                else:
                    aiortc_internals.tap_encoded_frames(transceiver.receiver, lambda _c, _f: self._count(mid))

        self._mids = {track.mid: track for track in tracks}
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        return self.subscribe_pc.localDescription.sdp

    def frames_from(self, participant: uuid.UUID, source: str) -> int:
        entry = self.received.get((participant, source))
        return entry.frames if entry else 0

    async def wait_for(self, condition: Callable[[], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

    def _count(self, mid: str) -> None:
        track = self._mids.get(mid)
        if track is None or track.participant is None:
            return
        kind = "audio" if track.source == "microphone" else "video"
        entry = self.received.setdefault((track.participant, track.source), Received(kind))
        entry.frames += 1
        if entry.first_frame_at is None:
            entry.first_frame_at = time.monotonic()
        self._arrived.set()

    async def _read(self, mid: str, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self._count(mid)

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._readers.clear()
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        self.publish_pc = self.subscribe_pc = None


class RoomClient:
    """Joins a room over the signaling WebSocket and follows the server's lead."""

    def __init__(self, url: str, *, cookies: dict[str, str] | None = None, media: MediaClient | None = None) -> None:
        self.url = url
        # Browsers always send Origin; the server refuses cross-site sockets, so say where we come from.
        self.origin: Any = url.replace("ws://", "http://").replace("wss://", "https://").split("/api/", 1)[0]
        self.closed_with: tuple[int, str] | None = None
        self.cookies = cookies or {}
        self.media = media or MediaClient(audio=AudioStreamTrack(), video=SyntheticVideo())
        self.welcome: signaling.Welcome | None = None
        self.state = "connecting"
        self.roster: signaling.Roster | None = None
        self.messages: list[Any] = []
        self.admitted_at: float | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._socket: Any = None
        self._decoder = msgspec.json.Decoder(signaling.ServerMessage)

    async def start(self, resume: str | None = None) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.ensure_future(self._run(ready, resume))
        await ready

    async def send(self, message: signaling.ClientMessage) -> None:
        await self._socket.send(signaling.encode(message))

    async def wait_until(self, condition: Callable[[RoomClient], bool], within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not condition(self):
                self._changed.clear()
                await self._changed.wait()

    async def leave(self) -> None:
        if self._socket is not None and self.state not in ("ended",):
            with contextlib.suppress(Exception):
                await self.send(signaling.Leave())
        await self.stop()

    async def stop(self) -> None:
        """Vanish: close the socket and the media without saying goodbye."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.media.close()

    async def _run(self, ready: asyncio.Future[None], resume: str | None) -> None:
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else None
        try:
            async with connect(self.url, additional_headers=headers, origin=self.origin) as socket:
                self._socket = socket
                with contextlib.suppress(ConnectionClosed):  # a refusal may close first; read it below
                    await self.send(signaling.Join(resume=resume))
                ready.set_result(None)
                heartbeat: asyncio.Task[None] | None = None
                try:
                    while True:
                        message = self._decoder.decode(await socket.recv())
                        self.messages.append(message)
                        if isinstance(message, signaling.Welcome) and heartbeat is None:
                            heartbeat = asyncio.ensure_future(self._beat(message.heartbeat_seconds))
                        await self._handle(message)
                        self._changed.set()
                finally:
                    if heartbeat is not None:
                        heartbeat.cancel()
        except ConnectionClosed as closed:
            self.closed_with = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else None
            self.state = "ended"
            self._changed.set()
        finally:
            if not ready.done():
                ready.set_result(None)

    async def _beat(self, seconds: int) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.send(signaling.Heartbeat())

    async def _handle(self, message: Any) -> None:
        match message:
            case signaling.Welcome():
                self.welcome = message
            case signaling.Waiting():
                if self.state == "in-room":
                    await self.media.close()
                self.state = "lobby"
            case signaling.Admitted():
                self.state = "in-room"
                self.admitted_at = time.monotonic()
                sdp, tracks = await self.media.publish_offer()
                await self.send(signaling.Offer(pc="publish", sdp=sdp, tracks=tracks))
            case signaling.Answer(pc="publish"):
                await self.media.publish_answer(message.sdp)
            case signaling.Offer(pc="subscribe"):
                answer = await self.media.subscribe_offer(message.sdp, message.tracks)
                await self.send(signaling.Answer(pc="subscribe", sdp=answer))
            case signaling.Roster():
                self.roster = message
            case signaling.Declined() | signaling.Removed():
                self.state = "ended"
                await self.media.close()


def ice_configuration(servers: list[signaling.IceServerOut], policy: str = "all") -> RTCConfiguration:
    """The aiortc configuration for what the server's welcome offered."""
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in servers],
        iceTransportPolicy=policy,  # type: ignore[arg-type]
    )
