"""The signaling WebSocket of a room: who is connecting, then their messages to the live room."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, cast
from urllib.parse import urlsplit

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from conference.auth.sessions import SignInRequired, current_caller, current_patient
from conference.db import utcnow
from conference.errors import DomainError, NotFound
from conference.rtc import service, signaling
from conference.rtc.rooms import LiveRoom, RoomRegistry
from conference.rtc.signaling import CloseCode
from conference.settings import Settings

log = logging.getLogger("conference.rtc")

JOIN_WITHIN_SECONDS = 10


class _Socket:
    """The live room's view of one participant's socket."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        self._send_lock = asyncio.Lock()

    async def send(self, message: signaling.ServerMessage) -> None:
        async with self._send_lock:
            await self._socket.send_text(signaling.encode(message))

    async def close(self, code: int, reason: str) -> None:
        await self._socket.close(code=code, reason=reason[:120])


def _same_origin(socket: WebSocket[Any, Any, Any], settings: Settings) -> bool:
    """Browsers send cookies on cross-site WebSocket handshakes too; only our own pages may connect."""
    origin = socket.headers.get("origin")
    if origin is None:
        return False
    expected = urlsplit(settings.public_base_url)
    given = urlsplit(origin)
    return (given.scheme, given.netloc) == (expected.scheme, expected.netloc)


async def _entrant(
    socket: WebSocket[Any, Any, Any], settings: Settings, engine: AsyncEngine, meeting_id: uuid.UUID, occurrence: str
) -> tuple[service.RoomTicket, service.Entrant]:
    address = socket.client.host if socket.client else None
    request = cast(Any, socket)  # the session helpers only read and clear the connection's session
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        ticket = await service.ticket_for(session, meeting_id, service.parse_occurrence(occurrence), settings)
        data = cast(dict[str, Any], socket.scope.get("session") or {})
        if data.get("kind") == "patient":
            patient_session = current_patient(request, settings, touch=False)
            entrant = await service.entrant_for_patient(session, patient_session, ticket, client_address=address)
            zone = ticket.time_zone
        else:
            caller = await current_caller(request, settings, session, touch=False)
            entrant = await service.entrant_for_clinician(session, caller, ticket)
            zone = caller.person.time_zone
        service.require_open(ticket, utcnow(), zone)
        if entrant.is_host:
            # Hosts enter the room directly; everyone else is checked when a host admits them.
            actor = service.entrant_actor(ticket, entrant, address)
            await service.check_admission(session, actor, ticket, entrant, utcnow())
    return ticket, entrant


@websocket("/api/v1/rooms/{meeting_id:uuid}/{occurrence:str}/signal", exclude_from_csrf=True)
async def room_signal(
    socket: WebSocket[Any, Any, Any], meeting_id: FromPath[uuid.UUID], occurrence: FromPath[str]
) -> None:
    settings: Settings = socket.app.state.settings
    engine: AsyncEngine = socket.app.state.engine
    registry: RoomRegistry = socket.app.state.rooms
    await socket.accept()
    connection = _Socket(socket)

    # The browser shows the message it was sent first; the close code (signaling.CloseCode) says
    # whether joining again could help.
    async def refuse(code: str, message: str, close_code: CloseCode) -> None:
        await connection.send(signaling.Error(code=code, message=message))
        await socket.close(code=close_code, reason=code)

    if not _same_origin(socket, settings):
        await refuse("origin", "This room can only be joined from the service's own pages.", CloseCode.REFUSED)
        return
    try:
        first = signaling.decode(await asyncio.wait_for(socket.receive_text(), JOIN_WITHIN_SECONDS))
        if not isinstance(first, signaling.Join):
            raise signaling.SignalingError("join_first", "Say which room you are joining first.")
        ticket, entrant = await _entrant(socket, settings, engine, meeting_id, occurrence)
    except TimeoutError:
        await refuse("silent", "No join message arrived in time.", CloseCode.SILENT)
        return
    except signaling.SignalingError as error:
        await refuse(error.code, error.message, CloseCode.PROTOCOL)
        return
    except SignInRequired as error:
        await refuse("sign_in", str(error) or "Sign in to join this meeting.", CloseCode.REFUSED)
        return
    except NotFound as error:
        await refuse("not_found", str(error), CloseCode.NOT_FOUND)
        return
    except DomainError as error:
        await refuse(type(error).__name__, str(error), CloseCode.REFUSED)
        return
    except WebSocketDisconnect:
        return

    room = await registry.room_for(ticket)
    address = socket.client.host if socket.client else None
    seat = await room.join(entrant, connection, first.resume, address)
    await _converse(socket, room, seat.id, connection, settings)
    await room.dropped(seat.id, connection)
    await registry.release(room)


async def _converse(
    socket: WebSocket[Any, Any, Any], room: LiveRoom, seat_id: uuid.UUID, connection: _Socket, settings: Settings
) -> None:
    """Relay messages until the client leaves, vanishes (no heartbeat) or is removed."""
    silence = settings.room_heartbeat_seconds * 3
    while seat_id in room.members and room.members[seat_id].connection is connection:
        try:
            raw = await asyncio.wait_for(socket.receive_text(), silence)
        except (TimeoutError, WebSocketDisconnect, RuntimeError):
            return
        try:
            message = signaling.decode(raw)
        except signaling.SignalingError as error:
            await connection.send(signaling.Error(code=error.code, message=error.message))
            continue
        await room.handle(seat_id, message)


route_handlers = [room_signal]
