"""A room on the real service, joined by headless participants with real WebRTC on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from conference.rtc import aiortc_internals, signaling
from conference.rtc.client import RoomClient
from tests.e2e.conftest import LiveServer, StartServer
from tests.support.live_room import (
    ROOM_ENV,
    narrow_consent_to,
    patient_cookies,
    signal_url,
    staff_cookies,
    staff_email,
)


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    aiortc_internals.advertise_only(["127.0.0.1"])
    yield
    aiortc_internals.advertise_only(None)


@pytest.fixture
def room_server(start_server: StartServer) -> LiveServer:
    return start_server(ROOM_ENV, demo_args=("--meeting-now",))


def _client(server: LiveServer, team_role: str) -> RoomClient:
    email = staff_email(server.demo, team_role)
    cookies = staff_cookies(server.base_url, email, server.password(email))
    return RoomClient(signal_url(server.base_url, server.demo["meeting_now"]["room_url"]), cookies=cookies)


def _patient(server: LiveServer) -> RoomClient:
    cookies, landing = patient_cookies(server.base_url, server.demo["meeting_now"]["patient_join_link"])
    assert landing == server.demo["meeting_now"]["room_url"].removeprefix(server.base_url)
    return RoomClient(signal_url(server.base_url, server.demo["meeting_now"]["room_url"]), cookies=cookies)


def _waiting(client: RoomClient) -> list[signaling.ParticipantOut]:
    return client.roster.lobby if client.roster else []


def _receives_everyone(client: RoomClient, others: list[RoomClient]) -> bool:
    return all(
        client.media.frames_from(other.welcome.participant, "camera") >= 3
        and client.media.frames_from(other.welcome.participant, "microphone") >= 3
        for other in others
        if other.welcome is not None
    )


async def test_lobby_admission_media_and_send_back(room_server: LiveServer) -> None:
    therapist, prescriber, patient = (
        _client(room_server, "primary_therapist"),
        _client(room_server, "prescriber"),
        _patient(room_server),
    )
    try:
        await therapist.start()
        await therapist.wait_until(lambda c: c.state == "in-room")
        assert therapist.welcome is not None and therapist.welcome.host

        await patient.start()
        await patient.wait_until(lambda c: c.state == "lobby")
        waiting = next(m for m in patient.messages if isinstance(m, signaling.Waiting))
        assert waiting.message == "Your care team will let you in shortly."
        await therapist.wait_until(lambda c: [p.participant for p in _waiting(c)] == [patient.welcome.participant])  # type: ignore[union-attr]
        assert not patient.welcome.host  # type: ignore[union-attr]
        assert [p.host for p in _waiting(therapist)] == [False]

        await therapist.send(signaling.Admit(participant=patient.welcome.participant))  # type: ignore[union-attr]
        await patient.wait_until(lambda c: c.state == "in-room")
        await prescriber.start()
        await prescriber.wait_until(lambda c: c.state == "in-room")

        # The roster says who hosts: both clinicians, not the patient.
        await therapist.wait_until(lambda c: c.roster is not None and len(c.roster.participants) == 3)
        assert {p.participant: p.host for p in therapist.roster.participants} == {  # type: ignore[union-attr]
            therapist.welcome.participant: True,
            prescriber.welcome.participant: True,  # type: ignore[union-attr]
            patient.welcome.participant: False,  # type: ignore[union-attr]
        }

        everyone = [therapist, prescriber, patient]
        for me in everyone:
            await me.media.wait_for(lambda m=me: _receives_everyone(m, [o for o in everyone if o is not m]), within=30)  # type: ignore[misc]

        await prescriber.send(signaling.SendToLobby(participant=patient.welcome.participant))  # type: ignore[union-attr]
        await patient.wait_until(lambda c: c.state == "lobby")
        await therapist.wait_until(
            lambda c: (
                c.roster is not None
                and patient.welcome.participant not in {p.participant for p in c.roster.participants}
            )  # type: ignore[union-attr]
        )
    finally:
        for client in (therapist, prescriber, patient):
            await client.leave()


async def test_patient_waits_again_when_every_clinician_leaves_and_a_dropped_client_resumes(
    room_server: LiveServer,
) -> None:
    therapist, patient = _client(room_server, "primary_therapist"), _patient(room_server)
    try:
        await therapist.start()
        await therapist.wait_until(lambda c: c.state == "in-room")
        await patient.start()
        await therapist.wait_until(lambda c: bool(_waiting(c)))
        await therapist.send(signaling.Admit(participant=patient.welcome.participant))  # type: ignore[union-attr]
        await patient.wait_until(lambda c: c.state == "in-room")

        # The patient's network drops; they come back with their resume token and are still admitted.
        resume = patient.welcome.resume  # type: ignore[union-attr]
        seat = patient.welcome.participant  # type: ignore[union-attr]
        await patient.stop()
        patient = RoomClient(patient.url, cookies=patient.cookies)
        await patient.start(resume=resume)
        await patient.wait_until(lambda c: c.state == "in-room")
        assert patient.welcome is not None and patient.welcome.participant == seat

        await therapist.leave()
        await patient.wait_until(lambda c: c.state == "lobby")
        assert "stepped out" in patient.messages[-1].message
    finally:
        await therapist.leave()
        await patient.leave()


async def test_bad_input_gets_an_error_and_the_room_carries_on(room_server: LiveServer) -> None:
    therapist = _client(room_server, "primary_therapist")
    try:
        await therapist.start()
        await therapist.wait_until(lambda c: c.state == "in-room")
        socket = therapist._socket
        await socket.send('{"v": 1, "type": "teleport"}')
        await socket.send("x" * (signaling.MAX_MESSAGE_BYTES + 10))
        await socket.send('{"v": 1, "type": "offer", "pc": "publish", "sdp": "v=0\\r\\nnonsense"}')
        await therapist.wait_until(lambda c: len([m for m in c.messages if isinstance(m, signaling.Error)]) >= 3)
        codes = [m.code for m in therapist.messages if isinstance(m, signaling.Error)]
        assert codes[:2] == ["unknown_type", "too_large"] and codes[2] == "invalid_sdp"
        await therapist.send(signaling.Heartbeat())
        await therapist.wait_until(lambda c: isinstance(c.messages[-1], signaling.Heartbeat))
    finally:
        await therapist.leave()


async def test_strangers_and_other_sites_are_refused(room_server: LiveServer) -> None:
    director = _client(room_server, "medical_director")  # on the care team, not on this meeting
    await director.start()
    await director.wait_until(lambda c: c.state == "ended")
    assert any(isinstance(m, signaling.Error) and m.code == "not_found" for m in director.messages), director.messages
    assert director.closed_with is not None and director.closed_with[0] == signaling.CloseCode.NOT_FOUND

    therapist = _client(room_server, "primary_therapist")
    therapist.origin = "http://evil.example"
    await therapist.start()
    await therapist.wait_until(lambda c: c.state == "ended")
    assert any(isinstance(m, signaling.Error) and m.code == "origin" for m in therapist.messages), therapist.messages
    assert therapist.closed_with is not None and therapist.closed_with[0] == signaling.CloseCode.REFUSED


async def test_a_revoked_consent_removes_whom_it_no_longer_covers_at_once(room_server: LiveServer) -> None:
    therapist, prescriber = _client(room_server, "primary_therapist"), _client(room_server, "prescriber")
    patient = _patient(room_server)
    try:
        await therapist.start()
        await therapist.wait_until(lambda c: c.state == "in-room")
        await prescriber.start()
        await prescriber.wait_until(lambda c: c.state == "in-room")
        await patient.start()
        await therapist.wait_until(lambda c: bool(_waiting(c)))
        await therapist.send(signaling.Admit(participant=patient.welcome.participant))  # type: ignore[union-attr]
        await patient.wait_until(lambda c: c.state == "in-room")

        # In a thread: blocking this loop would silence the clients' heartbeats, and the room drop them.
        await asyncio.get_running_loop().run_in_executor(
            None, narrow_consent_to, room_server.base_url, room_server.demo, ["primary_therapist", "case_manager"]
        )

        await prescriber.wait_until(lambda c: c.state == "ended")
        removed = next(m for m in prescriber.messages if isinstance(m, signaling.Removed))
        assert removed.code == signaling.RemovalCode.CONSENT
        await therapist.wait_until(
            lambda c: (
                c.roster is not None
                and {p.participant for p in c.roster.participants}
                == {therapist.welcome.participant, patient.welcome.participant}
            )  # type: ignore[union-attr]
        )
        assert patient.state == "in-room" and therapist.state == "in-room"

        # Scheduling took them off the meeting too, so coming back is refused.
        again = _client(room_server, "prescriber")
        await again.start()
        await again.wait_until(lambda c: c.state == "ended")
        assert [m.code for m in again.messages if isinstance(m, signaling.Error)] == ["not_found"]
    finally:
        for client in (therapist, prescriber, patient):
            await client.leave()
