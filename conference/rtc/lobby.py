"""Who is in a room and who waits in its lobby, and who may move whom. Pure.

Clinicians (hosts) enter the room directly; the patient waits in the lobby until a host admits
them. A host can decline someone waiting, send someone back to the lobby, or ask them to mute.
The room never holds the patient without a clinician: when the last host leaves, everyone else
goes back to the lobby and waits to be admitted again. A dropped connection keeps its place for a
grace period, so a client that reconnects with its resume token carries on where it was.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Place(StrEnum):
    LOBBY = "lobby"
    ROOM = "room"
    GONE = "gone"


class LobbyRefusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Seat:
    id: uuid.UUID
    key: str  # the person: "person:<id>" or "patient:<id>"
    name: str
    role: str
    is_host: bool
    place: Place
    resume: str
    connected: bool = True
    dropped_at: dt.datetime | None = None
    audio: bool = True
    video: bool = True
    screen: bool = False


@dataclass(frozen=True)
class Move:
    """A seat changed place; ``reason`` says why (the signaling layer words it for the person)."""

    seat: uuid.UUID
    to: Place
    reason: str


@dataclass
class Lobby:
    seats: dict[uuid.UUID, Seat] = field(default_factory=dict)

    # ---- arriving -------------------------------------------------------------------------------

    def arrive(self, key: str, name: str, role: str, *, is_host: bool) -> tuple[Seat, list[Move]]:
        """A new seat; the same person joining again (another tab or device) replaces the old one."""
        moves = [self._gone(seat, "joined_elsewhere") for seat in list(self.seats.values()) if seat.key == key]
        place = Place.ROOM if is_host else Place.LOBBY
        seat = Seat(uuid.uuid4(), key, name, role, is_host, place, secrets.token_urlsafe(24))
        self.seats[seat.id] = seat
        moves.append(Move(seat.id, place, "arrived"))
        return seat, moves + self._without_host_nobody_stays()

    def resume(self, token: str, key: str) -> tuple[Seat, list[Move]] | None:
        """The held seat for this token and person, reconnected; None if it has gone."""
        seat = next((s for s in self.seats.values() if secrets.compare_digest(s.resume, token)), None)
        if seat is None or seat.key != key:
            return None
        seat.connected, seat.dropped_at = True, None
        return seat, [Move(seat.id, seat.place, "resumed")]

    # ---- what hosts do --------------------------------------------------------------------------

    def admit(self, by: uuid.UUID, who: uuid.UUID) -> list[Move]:
        self._host_in_room(by)
        seat = self._seat(who)
        if seat.place is not Place.LOBBY:
            raise LobbyRefusal("not_waiting", f"{seat.name} is not waiting in the lobby.")
        seat.place = Place.ROOM
        return [Move(seat.id, Place.ROOM, "admitted")]

    def decline(self, by: uuid.UUID, who: uuid.UUID) -> list[Move]:
        self._host_in_room(by)
        seat = self._seat(who)
        if seat.place is not Place.LOBBY:
            raise LobbyRefusal("not_waiting", f"{seat.name} is not waiting in the lobby.")
        return [self._gone(seat, "declined")]

    def send_to_lobby(self, by: uuid.UUID, who: uuid.UUID) -> list[Move]:
        self._host_in_room(by)
        seat = self._seat(who)
        if who == by:
            raise LobbyRefusal("not_yourself", "You cannot send yourself to the lobby; leave the meeting instead.")
        if seat.place is not Place.ROOM:
            raise LobbyRefusal("not_in_room", f"{seat.name} is not in the room.")
        seat.place = Place.LOBBY
        return [Move(seat.id, Place.LOBBY, "sent_to_lobby"), *self._without_host_nobody_stays()]

    def ask_to_mute(self, by: uuid.UUID, who: uuid.UUID) -> Seat:
        self._host_in_room(by)
        seat = self._seat(who)
        if seat.place is not Place.ROOM or who == by:
            raise LobbyRefusal("not_in_room", f"{seat.name} is not in the room.")
        return seat

    # ---- leaving --------------------------------------------------------------------------------

    def leave(self, who: uuid.UUID, reason: str = "left") -> list[Move]:
        seat = self.seats.get(who)
        if seat is None:
            return []
        return [self._gone(seat, reason), *self._without_host_nobody_stays()]

    def drop(self, who: uuid.UUID, now: dt.datetime) -> None:
        """The connection went away without a goodbye: hold the seat for a while."""
        seat = self.seats.get(who)
        if seat is not None:
            seat.connected, seat.dropped_at = False, now

    def expire(self, now: dt.datetime, grace: dt.timedelta) -> list[Move]:
        moves: list[Move] = []
        for seat in list(self.seats.values()):
            if not seat.connected and seat.dropped_at is not None and now - seat.dropped_at >= grace:
                moves.append(self._gone(seat, "disconnected"))
        return moves + self._without_host_nobody_stays() if moves else []

    def remove_person(self, key: str, reason: str) -> list[Move]:
        moves = [self._gone(seat, reason) for seat in list(self.seats.values()) if seat.key == key]
        return moves + self._without_host_nobody_stays() if moves else []

    # ---- reading --------------------------------------------------------------------------------

    def in_place(self, place: Place) -> list[Seat]:
        return [seat for seat in self.seats.values() if seat.place is place]

    @property
    def empty(self) -> bool:
        return not self.seats

    # ---- rules ----------------------------------------------------------------------------------

    def _without_host_nobody_stays(self) -> list[Move]:
        if any(seat.is_host for seat in self.in_place(Place.ROOM)):
            return []
        moves = []
        for seat in self.in_place(Place.ROOM):
            seat.place = Place.LOBBY
            moves.append(Move(seat.id, Place.LOBBY, "no_host"))
        return moves

    def _gone(self, seat: Seat, reason: str) -> Move:
        self.seats.pop(seat.id, None)
        seat.place = Place.GONE
        return Move(seat.id, Place.GONE, reason)

    def _seat(self, who: uuid.UUID) -> Seat:
        seat = self.seats.get(who)
        if seat is None:
            raise LobbyRefusal("unknown_participant", "That person is no longer here.")
        return seat

    def _host_in_room(self, by: uuid.UUID) -> None:
        seat = self.seats.get(by)
        if seat is None or not seat.is_host or seat.place is not Place.ROOM:
            raise LobbyRefusal("not_host", "Only a clinician in the room can do that.")
