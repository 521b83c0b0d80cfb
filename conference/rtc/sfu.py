"""The forwarding SFU: each participant's encoded media goes, as is, to everyone else in the room.

Each participant has two peer connections with the server. On the *publish* connection the client
offers its microphone, camera and screen (three m-sections, fixed for the connection's life; the
screen one carries nothing until sharing starts). On the *subscribe* connection the server offers one
m-section ("slot") per source of every other participant, and renegotiates when sources appear. A
slot that a departed source leaves free is reused by the next source of the same kind and codec, so
the subscriber's description does not grow with every join and leave.

Nothing is decoded or re-encoded: frames arrive from ``aiortc_internals.tap_encoded_frames`` and leave
through each slot's sender, which only re-packetizes them. A slot holds its subscriber back until a
keyframe, asks the publisher for one when it starts, and passes the subscriber's own keyframe
requests upstream, at most one per ``KEYFRAME_INTERVAL`` per source.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.sdp import SessionDescription, candidate_from_sdp

from conference.rtc import aiortc_internals
from conference.rtc.aiortc_internals import EncodedFrame
from conference.rtc.signaling import SignalingError, Source, Track

aiortc_internals.ensure_supported()

log = logging.getLogger("conference.rtc.sfu")

KEYFRAME_INTERVAL = 0.5  # seconds between keyframe requests to one publisher
ANSWER_TIMEOUT = 15.0
MAX_QUEUED_FRAMES = {"audio": 50, "video": 60}  # about a second; a slower subscriber restarts at a keyframe
_FRAME_STEP = {"audio": 960, "video": 3000}  # one 20 ms Opus frame at 48 kHz; one 30 fps frame at 90 kHz
_DEFAULT_SOURCES: dict[str, tuple[Source, ...]] = {"audio": ("microphone",), "video": ("camera", "screen")}

OfferSender = Callable[[uuid.UUID, str, list[Track]], Awaitable[None]]
FailureHandler = Callable[[uuid.UUID, str], Awaitable[None]]


@dataclass(frozen=True)
class CodecKey:
    """What must match for a slot to carry a source's frames unchanged."""

    mime_type: str
    clock_rate: int
    channels: int | None
    parameters: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, codec: RTCRtpCodecParameters | RTCRtpCodecCapability) -> CodecKey:
        # Only the parameters that change the bitstream; the rest (e.g. level-asymmetry) don't.
        relevant = {"profile-level-id", "packetization-mode"}
        parameters = tuple(sorted((k, str(v)) for k, v in codec.parameters.items() if k in relevant))
        return cls(codec.mimeType.lower(), codec.clockRate, codec.channels, parameters)


def codec_preferences(kind: str, key: CodecKey) -> list[RTCRtpCodecCapability]:
    """The capability matching a publisher's codec, plus retransmission for video."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in capabilities if CodecKey.of(c) == key]
    if not chosen:
        raise SignalingError("unsupported_codec", f"The server cannot forward {key.mime_type} to other participants.")
    return chosen + [c for c in capabilities if c.mimeType.lower() == "video/rtx"][:1]


class PublishedSource:
    """One track a participant publishes; fans its frames out to the slots attached to it."""

    def __init__(
        self, owner: uuid.UUID, name: Source, receiver: RTCRtpReceiver, on_ready: Callable[[PublishedSource], None]
    ) -> None:
        self.owner = owner
        self.name = name
        self.kind = receiver.track.kind
        self.receiver = receiver
        self.codec: RTCRtpCodecParameters | None = None
        self.key: CodecKey | None = None
        self.active = False
        self.slots: set[Slot] = set()
        self.frames = 0
        self._on_ready = on_ready
        self._last_request = 0.0
        self._pending_request: asyncio.TimerHandle | None = None
        self._time_base = Fraction(1, 90_000)

    def on_frame(self, codec: RTCRtpCodecParameters, frame: EncodedFrame) -> None:
        self.frames += 1
        if self.key is None or codec.payloadType != (self.codec.payloadType if self.codec else None):
            self.codec, self.key = codec, CodecKey.of(codec)
            self._time_base = Fraction(1, codec.clockRate)
        if not self.active:
            self.active = True
            self._on_ready(self)
        if not self.slots:
            return
        packet = av.Packet(frame.data)
        packet.time_base = self._time_base
        packet.is_keyframe = frame.keyframe
        for slot in list(self.slots):
            slot.push(packet, frame.timestamp, frame.keyframe)

    def request_keyframe(self) -> None:
        """A PLI upstream now, or once the rate limit allows; requests in between merge into one."""
        if self.kind != "video":
            return
        now = time.monotonic()
        wait = self._last_request + KEYFRAME_INTERVAL - now
        if wait <= 0:
            self._send_request()
        elif self._pending_request is None:
            self._pending_request = asyncio.get_running_loop().call_later(wait, self._send_request)

    def _send_request(self) -> None:
        self._pending_request = None
        if aiortc_internals.request_keyframe(self.receiver):
            self._last_request = time.monotonic()

    def close(self) -> None:
        if self._pending_request is not None:
            self._pending_request.cancel()
            self._pending_request = None
        for slot in list(self.slots):
            slot.detach()
        self.active = False


class Slot(MediaStreamTrack):
    """One m-section of a subscriber's connection: the sender's track, fed by whichever source is attached.

    The slot lives as long as the subscriber's connection, so its sender's RTP loop never ends when a
    publisher leaves; timestamps are rebased so the subscriber sees one continuous stream.
    """

    def __init__(self, kind: str, key: CodecKey) -> None:
        super().__init__()
        self.kind = kind
        self.key = key
        self.source: PublishedSource | None = None
        self.transceiver: RTCRtpTransceiver | None = None
        self._queue: asyncio.Queue[tuple[av.Packet[Any], int] | None] = asyncio.Queue()
        self._gated = kind == "video"
        self._started = False
        self._offset: int | None = None
        self._last_pts: int | None = None

    @property
    def mid(self) -> str | None:
        return self.transceiver.mid if self.transceiver else None

    def attach(self, source: PublishedSource) -> None:
        self.detach()
        self.source = source
        source.slots.add(self)
        self._gated = self.kind == "video"
        self._offset = None
        # Asked now, not when the sender starts: the keyframe then travels while the subscriber's
        # connection is still being set up, and waits in the queue for it.
        source.request_keyframe()

    def detach(self) -> None:
        if self.source is not None:
            self.source.slots.discard(self)
            self.source = None
        self._drain()

    def push(self, packet: av.Packet[Any], timestamp: int, keyframe: bool) -> None:
        if self._gated:
            if not keyframe:
                return
            self._gated = False
        if self._queue.qsize() >= MAX_QUEUED_FRAMES[self.kind]:
            # The subscriber fell behind: skipping frames breaks references, so restart at a keyframe.
            self._drain()
            self._gated = self.kind == "video"
            if self.source is not None:
                self.source.request_keyframe()
            return
        self._queue.put_nowait((packet, timestamp))

    def request_keyframe(self) -> None:
        if self.source is not None:
            self.source.request_keyframe()

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._started:
            self._started = True
            if self._gated:
                self.request_keyframe()
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        packet, timestamp = item
        if self._offset is None:
            self._offset = 0 if self._last_pts is None else self._last_pts + _FRAME_STEP[self.kind] - timestamp
        # The packet is shared by every slot of the source; the sender packs it before awaiting
        # anything, so setting the timestamp here, per slot, is safe.
        packet.pts = self._last_pts = timestamp + self._offset
        return packet

    def stop(self) -> None:
        super().stop()
        self.detach()
        self._queue.put_nowait(None)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


@dataclass
class _Peer:
    id: uuid.UUID
    publish: RTCPeerConnection | None = None
    subscribe: RTCPeerConnection | None = None
    sources: dict[Source, PublishedSource] = field(default_factory=dict)
    slots: list[Slot] = field(default_factory=list)
    dirty: bool = False
    negotiation: asyncio.Task[None] | None = None
    answer: asyncio.Future[str] | None = None


class MediaRoom:
    """The media of one room: publish and subscribe connections of every admitted participant."""

    def __init__(
        self,
        *,
        send_offer: OfferSender,
        on_failure: FailureHandler,
        configuration: Callable[[], RTCConfiguration] = lambda: RTCConfiguration(iceServers=[]),
    ) -> None:
        self._send_offer = send_offer
        self._on_failure = on_failure
        self._configuration = configuration
        self._peers: dict[uuid.UUID, _Peer] = {}
        self._closing = False

    # ---- what the signaling layer calls ---------------------------------------------------------

    def admit(self, participant: uuid.UUID) -> None:
        """Start sending a newly admitted participant everyone else's media at once.

        The subscribe offer goes out without waiting for the participant's own publish offer, so the
        two connections' ICE and DTLS handshakes overlap instead of following one another.
        """
        peer = self._peers.get(participant)
        if peer is None:
            peer = self._peers[participant] = _Peer(participant)
        self._subscribe_to_others(peer)

    async def publish(self, participant: uuid.UUID, sdp: str, tracks: list[Track]) -> str:
        """Take a client's publish offer; answer it and start forwarding what it sends."""
        _check_description(sdp, kinds={"audio": 1, "video": 2})
        peer = self._peers.get(participant)
        if peer is None:
            peer = self._peers[participant] = _Peer(participant)
        elif peer.publish is not None:
            await self._close_publish(peer)
        connection = peer.publish = RTCPeerConnection(bundled(self._configuration()))
        named = {track.mid: track.source for track in tracks}
        seen: dict[str, int] = {"audio": 0, "video": 0}

        @connection.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            transceiver = next(t for t in connection.getTransceivers() if t.receiver.track is track)
            defaults = _DEFAULT_SOURCES.get(track.kind, ())
            position = seen.get(track.kind, 0)
            seen[track.kind] = position + 1
            name = named.get(transceiver.mid or "") or (defaults[position] if position < len(defaults) else None)
            if name is None or name in peer.sources or _kind_of(name) != track.kind:
                return  # more m-sections than a participant publishes: received, never forwarded
            source = PublishedSource(participant, name, transceiver.receiver, self._source_ready)
            aiortc_internals.tap_encoded_frames(transceiver.receiver, source.on_frame)
            peer.sources[name] = source

        @connection.on("connectionstatechange")
        async def on_state() -> None:
            if connection.connectionState == "failed" and peer.publish is connection:
                await self._on_failure(participant, "The media connection failed.")

        try:
            await connection.setRemoteDescription(RTCSessionDescription(sdp=reachable_candidates(sdp), type="offer"))
            await connection.setLocalDescription(await connection.createAnswer())
        except (ValueError, TypeError, AttributeError) as error:
            await self._close_publish(peer)
            raise SignalingError("invalid_sdp", f"The session description could not be used: {error}.") from None
        self._subscribe_to_others(peer)
        return connection.localDescription.sdp

    async def subscriber_answer(self, participant: uuid.UUID, sdp: str) -> None:
        peer = self._peers.get(participant)
        if peer is None or peer.answer is None or peer.answer.done():
            raise SignalingError("unexpected_answer", "There is no offer waiting for an answer.")
        _check_description(sdp, kinds={"audio": len(peer.slots), "video": len(peer.slots)})
        peer.answer.set_result(sdp)

    async def add_candidate(
        self, participant: uuid.UUID, pc: str, candidate: str, sdp_mid: str | None, index: int | None
    ) -> None:
        peer = self._peers.get(participant)
        connection = None if peer is None else peer.publish if pc == "publish" else peer.subscribe
        if connection is None or not candidate:
            return
        try:
            parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except (ValueError, IndexError):
            raise SignalingError("invalid_candidate", "The ICE candidate is malformed.") from None
        if not _reachable(parsed.ip):
            return
        parsed.sdpMid, parsed.sdpMLineIndex = sdp_mid, index
        await connection.addIceCandidate(parsed)

    def set_sharing(self, participant: uuid.UUID, sharing: bool) -> None:
        """A stopped screen share frees its slots; frames arriving again re-announce the source."""
        peer = self._peers.get(participant)
        source = peer.sources.get("screen") if peer else None
        if source is not None and not sharing and source.active:
            source.close()
            self._mark_all_dirty()

    async def remove(self, participant: uuid.UUID) -> None:
        peer = self._peers.pop(participant, None)
        if peer is None:
            return
        if peer.negotiation is not None:
            peer.negotiation.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await peer.negotiation
        for slot in peer.slots:
            slot.stop()
        await self._close_publish(peer)
        if peer.subscribe is not None:
            await peer.subscribe.close()
        self._mark_all_dirty()

    async def close(self) -> None:
        self._closing = True
        for participant in list(self._peers):
            await self.remove(participant)

    @property
    def participants(self) -> list[uuid.UUID]:
        return list(self._peers)

    def sources_of(self, participant: uuid.UUID) -> dict[Source, PublishedSource]:
        peer = self._peers.get(participant)
        return dict(peer.sources) if peer else {}

    def connections_of(self, participant: uuid.UUID) -> list[RTCPeerConnection]:
        peer = self._peers.get(participant)
        return [c for c in (peer.publish, peer.subscribe) if c is not None] if peer else []

    # ---- forwarding -----------------------------------------------------------------------------

    def _source_ready(self, source: PublishedSource) -> None:
        for peer in self._peers.values():
            if peer.id != source.owner:
                self._subscribe(peer, source)

    def _subscribe_to_others(self, peer: _Peer) -> None:
        for other in self._peers.values():
            if other.id != peer.id:
                for source in other.sources.values():
                    if source.active:
                        self._subscribe(peer, source)

    def _subscribe(self, peer: _Peer, source: PublishedSource) -> None:
        assert source.key is not None
        if any(slot.source is source for slot in peer.slots):
            return
        free = next((s for s in peer.slots if s.source is None and s.key == source.key), None)
        if free is None:
            free = Slot(source.kind, source.key)
            peer.slots.append(free)
        free.attach(source)
        self._schedule(peer)

    def _mark_all_dirty(self) -> None:
        for peer in self._peers.values():
            if peer.subscribe is not None:
                self._schedule(peer)

    def _schedule(self, peer: _Peer) -> None:
        if self._closing:
            return
        peer.dirty = True
        if peer.negotiation is None or peer.negotiation.done():
            peer.negotiation = asyncio.ensure_future(self._negotiate(peer))

    async def _negotiate(self, peer: _Peer) -> None:
        """Offer the subscriber its current slots; changes that arrive meanwhile get the next offer."""
        try:
            while peer.dirty and self._peers.get(peer.id) is peer:
                peer.dirty = False
                connection = peer.subscribe
                if connection is not None and connection.connectionState == "closed":
                    return
                if connection is None:
                    connection = peer.subscribe = RTCPeerConnection(bundled(self._configuration()))
                for slot in peer.slots:
                    if slot.transceiver is None:
                        slot.transceiver = connection.addTransceiver(slot, direction="sendonly")
                        slot.transceiver.setCodecPreferences(codec_preferences(slot.kind, slot.key))
                        aiortc_internals.on_keyframe_request(slot.transceiver.sender, slot.request_keyframe)
                await connection.setLocalDescription(await connection.createOffer())
                peer.answer = asyncio.get_running_loop().create_future()
                await self._send_offer(peer.id, connection.localDescription.sdp, self._track_map(peer))
                sdp = await asyncio.wait_for(peer.answer, ANSWER_TIMEOUT)
                try:
                    await connection.setRemoteDescription(
                        RTCSessionDescription(sdp=reachable_candidates(sdp), type="answer")
                    )
                except (ValueError, TypeError, AttributeError) as error:
                    raise SignalingError("invalid_sdp", f"The answer could not be used: {error}.") from None
                # aiortc starts the senders of a round only if DTLS is connected or still new when the
                # round completes; one finishing mid-handshake would leave its senders silent for good.
                await asyncio.wait_for(_connected(connection), ANSWER_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except InvalidStateError:
            return  # the participant left while their offer was being made
        except TimeoutError:
            await self._on_failure(peer.id, "The browser did not answer the server's offer in time.")
        except SignalingError as error:
            await self._on_failure(peer.id, error.message)
        except Exception:
            log.exception("negotiation with a participant failed")
            await self._on_failure(peer.id, "The media connection could not be updated.")
        finally:
            peer.answer = None

    @staticmethod
    def _track_map(peer: _Peer) -> list[Track]:
        return [
            Track(mid=slot.mid, source=slot.source.name, participant=slot.source.owner)
            for slot in peer.slots
            if slot.mid is not None and slot.source is not None
        ]

    async def _close_publish(self, peer: _Peer) -> None:
        for source in peer.sources.values():
            source.close()
        peer.sources.clear()
        if peer.publish is not None:
            connection, peer.publish = peer.publish, None
            await connection.close()


def _check_description(sdp: str, *, kinds: dict[str, int]) -> None:
    """Refuse a description aiortc would accept but cannot use, before it replaces a working one."""
    try:
        description = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError) as error:
        raise SignalingError("invalid_sdp", f"The session description could not be read: {error}.") from None
    if not description.media:
        raise SignalingError("invalid_sdp", "The session description has no audio or video in it.")
    for kind in {media.kind for media in description.media}:
        count = sum(1 for media in description.media if media.kind == kind)
        if count > kinds.get(kind, 0):
            raise SignalingError("invalid_sdp", f"The session description has too many {kind} sections ({count}).")
    for media in description.media:
        if media.ice is None or not media.ice.usernameFragment or media.dtls is None or not media.dtls.fingerprints:
            raise SignalingError("invalid_sdp", "The session description lacks ICE credentials or a DTLS fingerprint.")


def reachable_candidates(sdp: str) -> str:
    """The description without the remote candidates this server would never pair with.

    A server whose media is confined to loopback (tests, benchmarks) is given only loopback
    candidates: a browser also offers its other interfaces, and the server should not start checks
    towards them. (A browser's own checks from those interfaces still arrive; only a network
    namespace keeps them out.)
    """
    if not aiortc_internals.loopback_only():
        return sdp
    kept = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) > 4 and not _reachable(fields[4]):
                continue
        kept.append(line)
    return "".join(kept)


def _reachable(address: str) -> bool:
    if not aiortc_internals.loopback_only():
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a hostname (mDNS .local) never resolves to loopback here


def bundled(configuration: RTCConfiguration) -> RTCConfiguration:
    """One transport for every m-section from the start, on both of a participant's connections.

    Under aiortc's default (balanced) policy, a second m-section of a kind created in the same round
    as the first is tied to the first one's provisional transport and never moves to the bundled
    one: on a subscribe connection its sender never starts; on a publish connection its receiver
    is never registered, so a shared screen's packets were routed, by payload type, into the camera.
    """
    return dataclasses.replace(configuration, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


async def _connected(connection: RTCPeerConnection) -> None:
    if connection.connectionState == "connected":
        return
    changed = asyncio.Event()
    connection.add_listener("connectionstatechange", changed.set)
    try:
        while connection.connectionState != "connected":
            if connection.connectionState in ("failed", "closed"):
                raise SignalingError("media_failed", "The media connection failed.")
            changed.clear()
            await changed.wait()
    finally:
        connection.remove_listener("connectionstatechange", changed.set)


def _kind_of(source: Source) -> str:
    return "audio" if source == "microphone" else "video"
