"""TURN credentials from the service let two WebRTC peers talk through a real coturn, relay only."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from conference.rtc.ice import ice_servers
from tests.support.coturn import running_coturn


@pytest.fixture
def coturn(tmp_path):  # type: ignore[no-untyped-def]
    with running_coturn(tmp_path) as turn:
        yield turn


def _relay_only(turn_url: str, secret: str, user: str, *, now: dt.datetime) -> RTCConfiguration:
    [server] = ice_servers(
        stun_urls=(), turn_urls=(turn_url,), turn_secret=secret, user_id=user, now=now, ttl=dt.timedelta(minutes=30)
    )
    return RTCConfiguration(
        iceServers=[RTCIceServer(urls=list(server.urls), username=server.username, credential=server.credential)],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


async def _exchange(first: RTCConfiguration, second: RTCConfiguration, wait_seconds: float) -> tuple[str, list[str]]:
    caller, callee = RTCPeerConnection(first), RTCPeerConnection(second)
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    @callee.on("datachannel")
    def on_channel(channel) -> None:  # type: ignore[no-untyped-def]
        @channel.on("message")
        def on_message(message: str) -> None:
            if not received.done():
                received.set_result(message)

    channel = caller.createDataChannel("probe")
    channel.on("open", lambda: channel.send("hello through the relay"))
    try:
        await caller.setLocalDescription(await caller.createOffer())
        await callee.setRemoteDescription(caller.localDescription)
        await callee.setLocalDescription(await callee.createAnswer())
        await caller.setRemoteDescription(callee.localDescription)
        candidates = [line for line in caller.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
        return await asyncio.wait_for(received, wait_seconds), candidates
    finally:
        await caller.close()
        await callee.close()


async def test_peers_connect_through_coturn_with_service_credentials(coturn) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    message, candidates = await _exchange(
        _relay_only(coturn.url, coturn.secret, "person-a", now=now),
        _relay_only(coturn.url, coturn.secret, "person-b", now=now),
        wait_seconds=20,
    )
    assert message == "hello through the relay"
    assert candidates and all(" typ relay" in line and " 127.0.0.1 " in line for line in candidates)


async def test_coturn_refuses_credentials_from_another_secret(coturn) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    good = _relay_only(coturn.url, coturn.secret, "person-a", now=now)
    forged = _relay_only(coturn.url, "not-the-secret", "person-b", now=now)
    with pytest.raises(TimeoutError):
        await _exchange(good, forged, wait_seconds=6)
