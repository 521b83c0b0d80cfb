"""Benchmark: the forwarding SFU beside aiortc's decode-and-re-encode relay, on loopback.

Run from the project root:  .venv/bin/python -m bench.sfu  [--seconds N] [--runs N]

The server side runs in its own process (``--serve forward|transcode``), so its CPU time is read
from /proc apart from the participants' (who publish pre-encoded 1 Mbps VP8 at 30 fps plus Opus and
only count what they receive, without decoding). The two servers take the same two-connection
signaling, over the subprocess's stdin and stdout:

* forward: ``conference.rtc.sfu.MediaRoom``: encoded frames go out as they came in.
* transcode: aiortc's usual path: each received track is decoded, and ``MediaRelay`` hands the
  decoded frames to every subscriber's sender, which encodes them again.

Tables printed:

1. One publisher and 4 subscribers: server CPU (share of one core), per forwarded stream, and
   microseconds of server CPU per forwarded RTP packet, for both servers (target: forwarding costs
   at most one eighth).
2. A 6-person room, everyone publishing: forwarding server CPU (target: under 60% of one core).
3. Time from a participant starting to publish (admission) to its first decoded remote video frame
   (target: median under 250 ms).

All media stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import AudioStreamTrack, MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

from conference.rtc import aiortc_internals
from conference.rtc.client import MediaClient, PreEncodedVideo, encode_vp8
from conference.rtc.sfu import MediaRoom, bundled
from conference.rtc.signaling import Track

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- the server process -------------------------------------------------------------------------


class TranscodingRoom:
    """The baseline: decode each publisher's tracks once, re-encode them for every subscriber."""

    def __init__(self, send_offer: Callable[[uuid.UUID, str, list[Track]], Awaitable[None]]) -> None:
        self._send_offer = send_offer
        self._relay = MediaRelay()
        self._publish: dict[uuid.UUID, RTCPeerConnection] = {}
        self._subscribe: dict[uuid.UUID, RTCPeerConnection] = {}
        self._tracks: dict[uuid.UUID, list[tuple[str, MediaStreamTrack]]] = {}
        self._answers: dict[uuid.UUID, asyncio.Future[str]] = {}

    async def publish(self, participant: uuid.UUID, sdp: str, tracks: list[Track]) -> str:
        pc = self._publish[participant] = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        received = self._tracks.setdefault(participant, [])

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            received.append(("microphone" if track.kind == "audio" else "camera", track))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc.localDescription.sdp

    async def subscribe_all(self) -> None:
        for subscriber in self._publish:
            pc = self._subscribe[subscriber] = RTCPeerConnection(bundled(RTCConfiguration(iceServers=[])))
            mapping = []
            for owner, tracks in self._tracks.items():
                if owner == subscriber:
                    continue
                for source, track in tracks[:2]:
                    transceiver = pc.addTransceiver(self._relay.subscribe(track), direction="sendonly")
                    mapping.append((transceiver, source, owner))
            if not mapping:
                continue
            await pc.setLocalDescription(await pc.createOffer())
            self._answers[subscriber] = asyncio.get_running_loop().create_future()
            tracks = [Track(mid=t.mid or "", source=s, participant=o) for t, s, o in mapping]  # type: ignore[arg-type]
            await self._send_offer(subscriber, pc.localDescription.sdp, tracks)
            answer = await self._answers[subscriber]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def subscriber_answer(self, participant: uuid.UUID, sdp: str) -> None:
        self._answers[participant].set_result(sdp)

    async def packets_sent(self) -> int:
        return await _packets_sent(self._subscribe.values())

    async def close(self) -> None:
        for pc in [*self._publish.values(), *self._subscribe.values()]:
            await pc.close()


async def _packets_sent(connections: Any) -> int:
    total = 0
    for pc in connections:
        for sender in pc.getSenders():
            for stats in (await sender.getStats()).values():
                if stats.type == "outbound-rtp":
                    total += stats.packetsSent
    return total


async def serve(mode: str) -> None:
    aiortc_internals.advertise_only(["127.0.0.1"])
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def emit(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def send_offer(participant: uuid.UUID, sdp: str, tracks: list[Track]) -> None:
        emit({"op": "offer", "id": str(participant), "sdp": sdp, "tracks": [_track_out(t) for t in tracks]})

    async def failed(participant: uuid.UUID, reason: str) -> None:
        emit({"op": "failed", "id": str(participant), "reason": reason})

    room: Any = (
        MediaRoom(send_offer=send_offer, on_failure=failed) if mode == "forward" else TranscodingRoom(send_offer)
    )
    pending: set[asyncio.Task[None]] = set()

    async def run(message: dict[str, Any]) -> None:
        participant = uuid.UUID(message["id"]) if "id" in message else None
        if message["op"] == "admit":  # what the room does on admission, before the client's offer
            room.admit(participant)
        elif message["op"] == "leave":
            await room.remove(participant)
        elif message["op"] == "publish":
            tracks = [Track(mid=t["mid"], source=t["source"]) for t in message["tracks"]]
            answer = await room.publish(participant, message["sdp"], tracks)
            emit({"op": "answer", "id": message["id"], "sdp": answer})
        elif message["op"] == "answer":
            await room.subscriber_answer(participant, message["sdp"])
        elif message["op"] == "subscribe_all":
            await room.subscribe_all()
        elif message["op"] == "stats":
            packets = await (room.packets_sent() if mode == "transcode" else _forwarded(room))
            times = os.times()
            emit({"op": "stats", "packets": packets, "cpu": times.user + times.system})

    while line := await reader.readline():
        task = asyncio.ensure_future(run(json.loads(line)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await room.close()


async def _forwarded(room: MediaRoom) -> int:
    connections = [c for p in room.participants for c in room.connections_of(p)]
    return await _packets_sent(connections)


def _track_out(track: Track) -> dict[str, Any]:
    return {"mid": track.mid, "source": track.source, "participant": str(track.participant)}


# ---- the participants' side ---------------------------------------------------------------------


class Server:
    """A server subprocess and the participants connected to it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.clients: dict[uuid.UUID, MediaClient] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._stats: asyncio.Future[dict[str, Any]] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sfu", "--serve", self.mode,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if message["op"] == "answer":
                self._waiting.pop(message["id"]).set_result(message)
            elif message["op"] == "offer":
                asyncio.ensure_future(self._answer(message))  # noqa: RUF006 - lives until answered
            elif message["op"] == "stats" and self._stats is not None:
                self._stats.set_result(message)
            elif message["op"] == "failed":
                print(f"server: participant failed: {message['reason']}", file=sys.stderr)

    async def _answer(self, message: dict[str, Any]) -> None:
        client = self.clients[uuid.UUID(message["id"])]
        tracks = [
            Track(mid=t["mid"], source=t["source"], participant=uuid.UUID(t["participant"])) for t in message["tracks"]
        ]
        answer = await client.subscribe_offer(message["sdp"], tracks)
        self._send({"op": "answer", "id": message["id"], "sdp": answer})

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())

    async def join(self, client: MediaClient) -> uuid.UUID:
        participant = uuid.uuid4()
        self.clients[participant] = client
        if self.mode == "forward":
            self._send({"op": "admit", "id": str(participant)})
        sdp, tracks = await client.publish_offer()
        future = self._waiting[str(participant)] = asyncio.get_running_loop().create_future()
        self._send({"op": "publish", "id": str(participant), "sdp": sdp, "tracks": [_track_out(t) for t in tracks]})
        await client.publish_answer((await future)["sdp"])
        return participant

    async def leave(self, participant: uuid.UUID) -> None:
        self._send({"op": "leave", "id": str(participant)})
        await self.clients.pop(participant).close()

    def subscribe_all(self) -> None:
        self._send({"op": "subscribe_all"})

    async def stats(self) -> tuple[int, float]:
        self._stats = asyncio.get_running_loop().create_future()
        self._send({"op": "stats"})
        message = await self._stats
        return int(message["packets"]), float(message["cpu"])

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.close()
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()
        self._reader.cancel()


def _publisher(packets: list[tuple[bytes, bool]]) -> MediaClient:
    return MediaClient(audio=AudioStreamTrack(), video=PreEncodedVideo(packets), decode=False)


async def measure(server: Server, settle: float, seconds: float) -> tuple[float, int, float]:
    """Server CPU share of one core, packets forwarded, and microseconds per packet over a window."""
    await asyncio.sleep(settle)
    packets0, cpu0 = await server.stats()
    wall0 = time.monotonic()
    await asyncio.sleep(seconds)
    packets1, cpu1 = await server.stats()
    wall = time.monotonic() - wall0
    packets, cpu = packets1 - packets0, cpu1 - cpu0
    return cpu / wall, packets, (cpu / packets * 1e6) if packets else float("nan")


async def fan_out(
    mode: str, packets: list[tuple[bytes, bool]], subscribers: int, seconds: float
) -> tuple[float, int, float]:
    server = Server(mode)
    await server.start()
    try:
        for _ in range(subscribers):
            await server.join(MediaClient(decode=False))
        publisher = _publisher(packets)
        await server.join(publisher)
        if mode == "transcode":
            await asyncio.sleep(2)  # the publisher's tracks arrive
            server.subscribe_all()
        return await measure(server, 4, seconds)
    finally:
        await server.stop()


async def full_room(packets: list[tuple[bytes, bool]], people: int, seconds: float) -> tuple[float, int, float]:
    server = Server("forward")
    await server.start()
    try:
        for _ in range(people):
            await server.join(_publisher(packets))
        return await measure(server, 5, seconds)
    finally:
        await server.stop()


async def first_frame(packets: list[tuple[bytes, bool]], runs: int) -> list[float]:
    server = Server("forward")
    await server.start()
    try:
        publisher = await server.join(_publisher(packets))
        await asyncio.sleep(2)
        delays = []
        for _ in range(runs):
            viewer = MediaClient(audio=AudioStreamTrack(), decode=True)
            started = time.monotonic()
            joined = await server.join(viewer)
            await viewer.wait_for(lambda v=viewer: v.frames_from(publisher, "camera") > 0, within=10)  # type: ignore[misc]
            delays.append((viewer.received[(publisher, "camera")].first_frame_at or started) - started)
            # Every participant of this harness shares one process; in a real room each decodes on its
            # own device, so a timed participant leaves before the next joins rather than pile up.
            await server.leave(joined)
            await asyncio.sleep(0.5)
        return delays
    finally:
        await server.stop()


async def main(arguments: argparse.Namespace) -> int:
    aiortc_internals.advertise_only(["127.0.0.1"])
    packets = encode_vp8(6, bitrate=1_000_000)
    rate = sum(len(p) for p, _ in packets) * 8 / 6 / 1e6
    print(
        f"Publisher: pre-encoded VP8 640x480 30 fps at {rate:.2f} Mbps, plus Opus; {arguments.seconds:.0f} s windows.\n"
    )

    rows = []
    for mode in ("forward", "transcode"):
        share, count, per_packet = await fan_out(mode, packets, 4, arguments.seconds)
        rows.append((mode, share, count, per_packet))
    forward, transcode = rows[0][1], rows[1][1]
    print("| server (1 publisher, 4 subscribers) | CPU, % of one core | per subscriber, % | µs CPU per packet |")
    print("|---|---:|---:|---:|")
    for mode, share, _count, per_packet in rows:
        label = "forwarding SFU" if mode == "forward" else "MediaRelay decode + re-encode (aiortc)"
        print(f"| {label} | {share * 100:.1f} | {share * 100 / 4:.2f} | {per_packet:.1f} |")
    ratio = forward / transcode if transcode else float("nan")
    print(f"\nForwarding costs {ratio:.3f} of the re-encoding path (target: at most 0.125).\n")

    share, count, per_packet = await full_room(packets, 6, arguments.seconds)
    print("| 6-person room, everyone publishing | CPU, % of one core | packets/s forwarded | µs CPU per packet |")
    print("|---|---:|---:|---:|")
    print(f"| forwarding SFU | {share * 100:.1f} | {count / arguments.seconds:.0f} | {per_packet:.1f} |")
    print("\nTarget: under 60% of one core.\n")

    delays = await first_frame(packets, arguments.runs)
    print("| admission to first decoded remote video frame | median, ms | slowest, ms |")
    print("|---|---:|---:|")
    print(
        f"| forwarding SFU, {len(delays)} joins | {statistics.median(delays) * 1000:.0f} | {max(delays) * 1000:.0f} |"
    )
    print("\nTarget: median under 250 ms.")
    ok = ratio <= 0.125 and share < 0.6 and statistics.median(delays) < 0.25
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("forward", "transcode"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each measuring window")
    parser.add_argument("--runs", type=int, default=9, help="joins timed for the first-frame figure")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
    else:
        sys.exit(asyncio.run(main(args)))
