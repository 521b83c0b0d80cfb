"""Every reach into aiortc's and aioice's private parts, in one place, pinned to the versions below.

aiortc offers no public way to receive encoded media without decoding it, to hear a subscriber's
keyframe request on a sender that does not encode, or to choose which addresses ICE advertises. The
forwarding SFU needs all three. Each hook here names the private attribute it relies on; the tests in
``tests/integration/test_aiortc_internals.py`` exercise every one of them against the real library,
and ``ensure_supported`` refuses to run on any other release, so an upgrade fails loudly instead of
silently decoding (or dropping) every stream.
"""

from __future__ import annotations

import asyncio
import ipaddress
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aioice
import aioice.ice
import aiortc
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from conference.rtc.keyframes import is_keyframe

WRITTEN_FOR = {"aiortc": "1.16.0", "aioice": "0.13.0"}


class UnsupportedAiortc(RuntimeError):
    pass


def ensure_supported() -> None:
    """Refuse to forward media with a release these hooks were not written and tested for."""
    found = {"aiortc": aiortc.__version__, "aioice": aioice.__version__}
    if found != WRITTEN_FOR:
        raise UnsupportedAiortc(
            f"conference.rtc.aiortc_internals was written for {WRITTEN_FOR} but found {found}; "
            "re-check every hook in it (and its tests) before changing the pin."
        )


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame as it arrived: RTP timestamp (starting at 0) and payload."""

    data: bytes
    timestamp: int
    keyframe: bool


FrameListener = Callable[[RTCRtpCodecParameters, EncodedFrame], None]


class _FrameTap(queue.Queue[Any]):
    """Stands in for the receiver's decoder queue: frames go to a listener, never to the decoder.

    The receiver puts ``(codec, JitterFrame)`` from its RTP handler, on the event loop thread, so the
    listener runs there too. ``None`` is the receiver's stop signal for its decoder thread: it goes
    through to that (idle) thread, which then ends the remote track and exits.
    """

    def __init__(self, listener: FrameListener) -> None:
        super().__init__()
        self._listener = listener

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None, block, timeout)
            return
        codec, jitter_frame = item
        data = bytes(jitter_frame.data)
        self._listener(codec, EncodedFrame(data, jitter_frame.timestamp, is_keyframe(codec.mimeType, data)))


def tap_encoded_frames(receiver: RTCRtpReceiver, listener: FrameListener) -> None:
    """Send this receiver's complete encoded frames to ``listener`` instead of decoding them.

    Must run before the receiver starts (in the peer connection's ``track`` event handler, which
    fires during ``setRemoteDescription``), because ``receive()`` hands the queue to the decoder
    thread it starts.
    """
    attribute = "_RTCRtpReceiver__decoder_queue"
    if not isinstance(getattr(receiver, attribute, None), queue.Queue):
        raise UnsupportedAiortc("RTCRtpReceiver no longer has the decoder queue this SFU replaces")
    if getattr(receiver, "_RTCRtpReceiver__started", True):
        raise UnsupportedAiortc("the receiver already started; tap it from the 'track' event")
    setattr(receiver, attribute, _FrameTap(listener))


def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Ask the publisher for a keyframe (RTCP PLI); False when nothing has been received yet."""
    sources = receiver.getSynchronizationSources()
    if not sources:
        return False
    task = asyncio.ensure_future(receiver._send_rtcp_pli(sources[0].source))
    _in_flight.add(task)
    task.add_done_callback(_in_flight.discard)
    return True


_in_flight: set[asyncio.Future[None]] = set()


def on_keyframe_request(sender: RTCRtpSender, listener: Callable[[], None]) -> None:
    """Call ``listener`` when the remote end asks this sender for a keyframe (PLI or FIR).

    aiortc's sender answers those by flagging its encoder, which a forwarding sender never uses;
    everything else (receiver reports, NACK retransmissions, REMB) keeps its normal handling.
    """
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            listener()
            return
        await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]


def advertise_only(addresses: Sequence[str] | None) -> None:
    """Gather host ICE candidates on exactly these local addresses (None: every interface).

    aioice lists every interface address except 127.0.0.1 and ::1 and offers no option; a media
    server usually should advertise one chosen address, and tests must keep media on loopback.
    """
    global _advertised
    if addresses is None:
        _advertised = None
        aioice.ice.get_host_addresses = _every_interface
        return
    chosen = _advertised = list(addresses)

    def configured(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [address for address in chosen if (":" in address and use_ipv6) or (":" not in address and use_ipv4)]

    aioice.ice.get_host_addresses = configured


_every_interface = aioice.ice.get_host_addresses
_advertised: list[str] | None = None


def loopback_only() -> bool:
    """Whether the server's media is confined to loopback addresses (as in tests and benchmarks)."""
    return bool(_advertised) and all(ipaddress.ip_address(address).is_loopback for address in _advertised or [])
