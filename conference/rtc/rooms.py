"""Live rooms: the lobby rules, the SFU and attendance, driven by participants' signaling sockets.

One ``LiveRoom`` per meeting occurrence exists in the process while anyone is connected to it (a
room lives on one media node). Every change of who is where goes through ``_apply``, one at a time,
so admission checks, attendance rows, media and what each client is told stay in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Protocol

import msgspec
from aiortc import RTCConfiguration, RTCIceServer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conference import db
from conference.channels import Channels
from conference.consent import service as consent
from conference.consent.policy import Purpose
from conference.db import utcnow
from conference.errors import DomainError
from conference.rtc import ice, service, signaling
from conference.rtc.lobby import Lobby, LobbyRefusal, Move, Place, Seat
from conference.rtc.sfu import MediaRoom
from conference.rtc.signaling import CloseCode, RemovalCode
from conference.settings import Settings

log = logging.getLogger("conference.rtc")

WAITING_MESSAGE = "Your care team will let you in shortly."
NO_HOST_MESSAGE = "Your clinicians have stepped out. You're back in the waiting room until one of them returns."
SENT_BACK_MESSAGE = "A clinician moved you to the waiting room. They will let you back in shortly."
_LOBBY_WORDING = {"no_host": NO_HOST_MESSAGE, "sent_to_lobby": SENT_BACK_MESSAGE}
DECLINED_MESSAGE = "Your care team can't see you in this meeting right now. They will contact you."
# Seats the service takes away leave the lobby with a removal code as their reason (lobby.py says
# "joined_elsewhere" itself); each is told why in these words before its socket closes.
REMOVAL_MESSAGES = {
    RemovalCode.CONSENT: "The patient's consent no longer covers your presence in this meeting.",
    RemovalCode.ROOM_CLOSED: "This meeting's room has closed.",
    RemovalCode.JOINED_ELSEWHERE: "You joined this meeting from another window or device.",
}
SWEEP_EVERY = dt.timedelta(minutes=1)  # how often stays no instance refreshes any more are closed
COVERAGE_TOPIC = "coverage-lost"


class Connection(Protocol):
    async def send(self, message: signaling.ServerMessage) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass
class _Member:
    seat: Seat
    entrant: service.Entrant
    connection: Connection | None
    client_address: str | None
    attendance: uuid.UUID | None = None


class LiveRoom:
    def __init__(self, ticket: service.RoomTicket, settings: Settings, engine: AsyncEngine) -> None:
        self.ticket = ticket
        self.settings = settings
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.lobby = Lobby()
        self.media = MediaRoom(send_offer=self._send_offer, on_failure=self._media_failed, configuration=self._ice)
        self.members: dict[uuid.UUID, _Member] = {}
        self._lock = asyncio.Lock()
        self._last_touch = utcnow()

    # ---- entering -------------------------------------------------------------------------------

    async def join(
        self, entrant: service.Entrant, connection: Connection, resume: str | None, client_address: str | None
    ) -> Seat:
        async with self._lock:
            resumed = self.lobby.resume(resume, entrant.key) if resume else None
            if resumed is not None:
                seat, moves = resumed
                member = self.members[seat.id]
                old, member.connection = member.connection, connection
                if old is not None and old is not connection:
                    with contextlib.suppress(Exception):
                        await old.close(CloseCode.RESUMED_ELSEWHERE, "resumed elsewhere")
                await self.media.remove(seat.id)  # the client starts fresh connections
            else:
                seat, moves = self.lobby.arrive(entrant.key, entrant.name, entrant.role, is_host=entrant.is_host)
                self.members[seat.id] = _Member(seat, entrant, connection, client_address)
            await connection.send(self._welcome(seat, entrant))
            await self._apply(moves)
            return seat

    # ---- messages from a participant ------------------------------------------------------------

    async def handle(self, seat_id: uuid.UUID, message: signaling.ClientMessage) -> None:
        member = self.members.get(seat_id)
        if member is None:
            return
        try:
            await self._dispatch(member, message)
        except (LobbyRefusal, signaling.SignalingError) as refusal:
            await self._send(member, signaling.Error(code=refusal.code, message=refusal.message))

    async def _dispatch(self, member: _Member, message: signaling.ClientMessage) -> None:
        seat = member.seat
        match message:
            case signaling.Heartbeat():
                await self._send(member, signaling.Heartbeat())
            case signaling.Offer(pc="publish"):
                self._require_in_room(seat)
                answer = await self.media.publish(seat.id, message.sdp, message.tracks)
                await self._send(member, signaling.Answer(pc="publish", sdp=answer))
            case signaling.Answer(pc="subscribe"):
                self._require_in_room(seat)
                await self.media.subscriber_answer(seat.id, message.sdp)
            case signaling.IceCandidate():
                await self.media.add_candidate(
                    seat.id, message.pc, message.candidate, message.sdp_mid, message.sdp_mline_index
                )
            case signaling.MediaState():
                seat.audio, seat.video, seat.screen = message.audio, message.video, message.screen
                self.media.set_sharing(seat.id, message.screen)
                await self._broadcast_roster()
            case signaling.Admit():
                async with self._lock:
                    await self._apply(self.lobby.admit(seat.id, message.participant))
            case signaling.Decline():
                async with self._lock:
                    await self._apply(self.lobby.decline(seat.id, message.participant))
            case signaling.SendToLobby():
                async with self._lock:
                    await self._apply(self.lobby.send_to_lobby(seat.id, message.participant))
            case signaling.AskToMute():
                target = self.lobby.ask_to_mute(seat.id, message.participant)
                await self._send(self.members[target.id], signaling.MuteRequested(kind=message.kind, by=seat.name))
            case signaling.Leave():
                async with self._lock:
                    await self._apply(self.lobby.leave(seat.id, "left"))
            case signaling.Join():
                raise signaling.SignalingError("already_joined", "You have already joined this meeting.")
            case _:
                raise signaling.SignalingError("unexpected", "That message is not expected here.")

    # ---- leaving and housekeeping ---------------------------------------------------------------

    async def dropped(self, seat_id: uuid.UUID, connection: Connection) -> None:
        """The socket closed without a goodbye: keep the seat for the resume grace period."""
        async with self._lock:
            member = self.members.get(seat_id)
            if member is None or member.connection is not connection:
                return
            member.connection = None
            self.lobby.drop(seat_id, utcnow())
            await self.media.remove(seat_id)

    async def tick(self, now: dt.datetime) -> None:
        """Periodic: expire held seats, keep attendance fresh, close the room when its time is up."""
        async with self._lock:
            if not self.ticket.window.contains(now):
                await self._apply(self._everyone_out())
                return
            await self._apply(self.lobby.expire(now, dt.timedelta(seconds=self.settings.room_resume_seconds)))
            if now - self._last_touch >= service.TOUCH_EVERY:
                self._last_touch = now
                ids = [m.attendance for m in self.members.values() if m.attendance is not None]
                if ids:
                    async with self._sessions() as session, session.begin():
                        await service.touch(session, ids, now)

    async def remove_person(self, person_id: uuid.UUID) -> None:
        async with self._lock:
            await self._apply(self.lobby.remove_person(f"person:{person_id}", RemovalCode.CONSENT))

    @property
    def empty(self) -> bool:
        return self.lobby.empty

    async def close(self) -> None:
        async with self._lock:
            await self._apply(self._everyone_out())
        await self.media.close()

    def _everyone_out(self) -> list[Move]:
        return [
            move
            for seat in list(self.lobby.seats.values())
            for move in self.lobby.leave(seat.id, RemovalCode.ROOM_CLOSED)
        ]

    # ---- applying moves -------------------------------------------------------------------------

    async def _apply(self, moves: list[Move]) -> None:
        pending = list(moves)
        while pending:
            move = pending.pop(0)
            member = self.members.get(move.seat)
            if member is None:
                continue
            if move.to is Place.ROOM:
                # A host (re)connecting was checked at the door (api.py) just before being seated here.
                at_the_door = member.entrant.is_host and move.reason in ("arrived", "resumed")
                refusal = None if at_the_door else await self._admission_refused(member)
                if refusal is not None:
                    pending.extend(self.lobby.leave(member.seat.id, RemovalCode.CONSENT))
                    await self._send(member, signaling.Error(code="consent", message=refusal))
                    continue
                await self._enter(member)
            elif move.to is Place.LOBBY:
                await self._leave_room(member, move.reason)
                await self._send(member, signaling.Waiting(message=_LOBBY_WORDING.get(move.reason, WAITING_MESSAGE)))
            else:
                await self._leave_room(member, move.reason)
                del self.members[move.seat]
                await self._say_goodbye(member, move.reason)
        await self._broadcast_roster()

    async def _admission_refused(self, member: _Member) -> str | None:
        """The consent policy and the meeting, asked afresh at every admission."""
        actor = service.entrant_actor(self.ticket, member.entrant, member.client_address)
        async with self._sessions() as session:
            try:
                async with session.begin():
                    await service.check_admission(session, actor, self.ticket, member.entrant, utcnow())
            except DomainError as refused:
                return str(refused)
        return None

    async def _enter(self, member: _Member) -> None:
        if member.attendance is None:
            async with self._sessions() as session, session.begin():
                member.attendance = await service.record_join(
                    session, self.ticket, member.entrant, utcnow(), client_address=member.client_address
                )
        await self._send(member, signaling.Admitted())
        self.media.admit(member.seat.id)

    async def _leave_room(self, member: _Member, reason: str) -> None:
        await self.media.remove(member.seat.id)
        if member.attendance is not None:
            attendance, member.attendance = member.attendance, None
            async with self._sessions() as session, session.begin():
                await service.record_leave(session, attendance, utcnow(), _attendance_reason(reason))

    async def _say_goodbye(self, member: _Member, reason: str) -> None:
        if member.connection is None:
            return
        if reason == "declined":
            await self._send(member, signaling.Declined(message=DECLINED_MESSAGE))
        elif reason in REMOVAL_MESSAGES:
            code = RemovalCode(reason)
            await self._send(member, signaling.Removed(code=code, message=REMOVAL_MESSAGES[code]))
        connection, member.connection = member.connection, None
        with contextlib.suppress(Exception):
            await connection.close(CloseCode.NORMAL, reason)

    # ---- talking to clients ---------------------------------------------------------------------

    def _welcome(self, seat: Seat, entrant: service.Entrant) -> signaling.Welcome:
        servers = ice.ice_servers(
            stun_urls=self.settings.stun_urls,
            turn_urls=self.settings.turn_urls,
            turn_secret=self.settings.turn_secret,
            user_id=str(seat.id),
            now=utcnow(),
            ttl=dt.timedelta(minutes=self.settings.turn_ttl_minutes),
        )
        return signaling.Welcome(
            participant=seat.id,
            name=entrant.name,
            role=entrant.role,
            host=entrant.is_host,
            resume=seat.resume,
            ice_servers=[signaling.IceServerOut(list(s.urls), s.username, s.credential) for s in servers],
            heartbeat_seconds=self.settings.room_heartbeat_seconds,
            ice_transport_policy="relay" if self.settings.ice_transport_policy == "relay" else "all",
        )

    def _ice(self) -> RTCConfiguration:
        # The server reaches clients on the addresses it advertises; TURN is for clients that need it.
        stun = list(self.settings.stun_urls)
        return RTCConfiguration(iceServers=[RTCIceServer(urls=stun)] if stun else [])

    async def _send(self, member: _Member, message: signaling.ServerMessage) -> None:
        if member.connection is None:
            return
        try:
            await member.connection.send(message)
        except Exception:  # a vanished client must not break the room for the others
            log.info("a participant's socket refused a message; it will be dropped")

    async def _broadcast_roster(self) -> None:
        def out(seat: Seat) -> signaling.ParticipantOut:
            return signaling.ParticipantOut(
                participant=seat.id,
                name=seat.name,
                role=seat.role,
                host=seat.is_host,
                audio=seat.audio,
                video=seat.video,
                screen=seat.screen,
            )

        in_room = [out(seat) for seat in self.lobby.in_place(Place.ROOM)]
        waiting = [out(seat) for seat in self.lobby.in_place(Place.LOBBY)]
        for member in list(self.members.values()):
            if member.seat.place is Place.ROOM:
                lobby = waiting if member.seat.is_host else []
                await self._send(member, signaling.Roster(participants=in_room, lobby=lobby))

    async def _send_offer(self, seat_id: uuid.UUID, sdp: str, tracks: list[signaling.Track]) -> None:
        member = self.members.get(seat_id)
        if member is not None:
            await self._send(member, signaling.Offer(pc="subscribe", sdp=sdp, tracks=tracks))

    async def _media_failed(self, seat_id: uuid.UUID, reason: str) -> None:
        member = self.members.get(seat_id)
        if member is not None:
            await self._send(member, signaling.Error(code="media", message=reason))

    def _require_in_room(self, seat: Seat) -> None:
        if seat.place is not Place.ROOM:
            raise signaling.SignalingError("not_admitted", "Wait until a clinician lets you in.")


def _attendance_reason(reason: str) -> service.LeftReason:
    match reason:
        case RemovalCode.CONSENT:
            return "removed_consent"
        case "no_host" | "sent_to_lobby":
            return "sent_to_lobby"
        case "disconnected":
            return "disconnected"
        case RemovalCode.ROOM_CLOSED:
            return "room_closed"
    return "left"


RoomKey = tuple[uuid.UUID, dt.datetime]


class RoomRegistry:
    """The live rooms of this process, and the background work they need."""

    def __init__(self, settings: Settings, engine: AsyncEngine, channels: Channels) -> None:
        self.settings = settings
        self.engine = engine
        self.rooms: dict[RoomKey, LiveRoom] = {}
        self._lock = asyncio.Lock()
        self._channels = channels
        self._swept_at: dt.datetime | None = None
        channels.subscribe(COVERAGE_TOPIC, self._remove_uncovered)

    async def room_for(self, ticket: service.RoomTicket) -> LiveRoom:
        async with self._lock:
            key = (ticket.meeting_id, ticket.occurrence_start)
            room = self.rooms.get(key)
            if room is None:
                room = self.rooms[key] = LiveRoom(ticket, self.settings, self.engine)
            return room

    async def release(self, room: LiveRoom) -> None:
        async with self._lock:
            key = (room.ticket.meeting_id, room.ticket.occurrence_start)
            if room.empty and self.rooms.get(key) is room:
                del self.rooms[key]
                await room.media.close()

    async def tick(self) -> None:
        """Periodic (every second): each room's housekeeping, and every ``SWEEP_EVERY`` the stays
        that no instance refreshes any more are closed."""
        now = utcnow()
        for room in list(self.rooms.values()):
            try:
                await room.tick(now)
            except Exception:
                log.exception("room housekeeping failed")
            await self.release(room)
        if self._swept_at is None or now - self._swept_at >= SWEEP_EVERY:
            closed = await self.recover(now)
            if closed:
                log.info("closed %d attendance records no instance refreshes any more", closed)

    async def on_coverage_lost(
        self, session: AsyncSession, loss: consent.CoverageLoss, _settings: Settings
    ) -> list[str]:
        """Announce, once the changed consent is committed, whom it no longer covers in live rooms.

        Every instance hears it (``COVERAGE_TOPIC``) and takes those people out of the rooms it
        serves; the room may live on another instance than the one that changed the consent, so no
        effect is reported here: the room records each removal (attendance and audit) where it happens.
        """
        removals = service.removals_for(loss)
        if removals:
            payload = msgspec.json.encode(removals)
            db.after_commit(session, lambda: self._channels.publish(COVERAGE_TOPIC, payload))
        return []

    async def _remove_uncovered(self, payload: bytes) -> None:
        try:
            removals = msgspec.json.decode(payload, type=list[tuple[uuid.UUID, uuid.UUID, Purpose]])
        except msgspec.ValidationError:
            log.warning("ignored a malformed coverage-loss message")
            return
        for patient_id, person_id, purpose in removals:
            for room in list(self.rooms.values()):
                ticket = room.ticket
                present = any(m.entrant.person_id == person_id for m in room.members.values())
                if ticket.patient_id == patient_id and ticket.purpose == purpose and present:
                    await room.remove_person(person_id)

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            await room.close()
        self.rooms.clear()

    async def recover(self, now: dt.datetime | None = None) -> int:
        """At start-up and then every ``SWEEP_EVERY`` (``tick``): attendance left open by a crash, a
        restart or a lost instance, and not refreshed for ``service.ABANDONED_AFTER``, is closed at
        its last sign of life. Stays held by this process's rooms are never closed; other instances'
        live rooms refresh theirs well within the bound."""
        moment = now or utcnow()
        self._swept_at = moment
        ours = [m.attendance for room in self.rooms.values() for m in room.members.values() if m.attendance is not None]
        async with async_sessionmaker(self.engine, expire_on_commit=False)() as session, session.begin():
            return await service.close_abandoned(session, moment, keep=ours)
