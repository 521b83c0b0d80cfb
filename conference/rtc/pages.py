"""The room page: for a clinician on the meeting, or the patient who opened their link."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from conference.auth.sessions import current_patient
from conference.db import utcnow
from conference.http import DbSession, OptionalCallerDep, SettingsDep
from conference.rtc import service


@dataclass(frozen=True)
class RoomView:
    title: str
    when: str
    signal_url: str
    leave_url: str


def _when(ticket: service.RoomTicket, zone_name: str) -> str:
    zone = ZoneInfo(zone_name)
    start, end = ticket.starts_at.astimezone(zone), ticket.ends_at.astimezone(zone)
    return f"{start:%A} {start.day} {start:%B}, {start:%H:%M} to {end:%H:%M} {start.tzname()}"


@get("/rooms/{meeting_id:uuid}/{occurrence:str}")
async def room_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: SettingsDep,
    optional_caller: OptionalCallerDep,
    meeting_id: FromPath[uuid.UUID],
    occurrence: FromPath[str],
) -> Template:
    ticket = await service.ticket_for(db_session, meeting_id, service.parse_occurrence(occurrence), settings)
    if optional_caller is not None:
        entrant = await service.entrant_for_clinician(db_session, optional_caller, ticket)
        zone, leave = optional_caller.person.time_zone, f"/meetings/{meeting_id}"
    else:
        patient_session = current_patient(request, settings)
        entrant = await service.entrant_for_patient(
            db_session, patient_session, ticket, client_address=request.client.host if request.client else None
        )
        zone, leave = ticket.time_zone, "/patient"
    service.require_open(ticket, utcnow(), zone)
    title = "Joint session" if ticket.kind == "joint_session" else "Case review"
    return Template(
        template_name="rtc/room.html.j2",
        context={
            "caller": optional_caller,
            "room": RoomView(
                title,
                _when(ticket, zone),
                f"/api/v1{service.room_path(meeting_id, ticket.occurrence_start)}/signal",
                leave,
            ),
            "me": {"name": entrant.name, "role": entrant.role, "is_host": entrant.is_host},
        },
    )


route_handlers = [room_page]
