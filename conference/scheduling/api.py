"""JSON API for scheduling: availability, slots, meetings, responses, feed tokens; and the feeds."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, delete, get, post, put, route
from litestar.enums import HttpMethod
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from conference.audit import service as audit
from conference.auth.sessions import client_address
from conference.db import utcnow
from conference.errors import InvalidInput, TooManyAttempts
from conference.http import CallerDep, DbSession, SettingsDep
from conference.people.models import Person
from conference.scheduling import availability, feeds, service
from conference.scheduling.models import Meeting
from conference.scheduling.schemas import (
    AvailabilityIn,
    ExternalCalendarIn,
    InstanceOut,
    MeetingCancel,
    MeetingCreate,
    MeetingOut,
    OccurrenceCancel,
    OccurrenceMove,
    ParticipantOut,
    ParticipantsChange,
    Reschedule,
    ResponseIn,
    SlotOut,
    SlotQuery,
    TimeOffIn,
)

FEED_LIMITS_STORE = "feed_limits"


async def meeting_out(db_session: Any, meeting: Meeting) -> MeetingOut:
    names: dict[uuid.UUID, str] = {}
    for participant in meeting.participants:
        if participant.person_id and participant.person_id not in names:
            person = await db_session.get(Person, participant.person_id)
            names[participant.person_id] = person.name if person else "Someone"
    return MeetingOut(
        id=meeting.id,
        kind=meeting.kind,
        patient_id=meeting.patient_id,
        organizer_id=meeting.organizer_id,
        title=meeting.title,
        start=meeting.starts_at,
        end=meeting.ends_at,
        time_zone=meeting.time_zone,
        rrule=meeting.rrule,
        status=meeting.status,
        sequence=meeting.sequence,
        version=meeting.version,
        ical_uid=meeting.ical_uid,
        attention=meeting.attention,
        conflict_override_reason=meeting.conflict_override_reason,
        participants=[
            ParticipantOut(
                person_id=p.person_id,
                name="The patient" if p.is_patient else names.get(p.person_id, "Someone") if p.person_id else "Someone",
                is_patient=p.is_patient,
                required=p.required,
                response=p.response,
                removed=p.removed_at is not None,
                removed_reason=p.removed_reason,
            )
            for p in meeting.participants
        ],
        occurrences=[
            InstanceOut(i.recurrence_id, i.start, i.end, i.cancelled, i.moved) for i in service.instances(meeting)
        ],
    )


def slot_out(slot: Any, people: dict[uuid.UUID, Person]) -> SlotOut:
    local = {}
    for person_id, person in people.items():
        moment = slot.start.astimezone(ZoneInfo(person.time_zone))
        local[str(person_id)] = f"{moment:%a} {moment.day} {moment:%b %H:%M} {moment.tzname()}"
    return SlotOut(
        start=slot.start,
        end=slot.end,
        optional_free=[uuid.UUID(key) for key in slot.optional_free],
        optional_busy=[uuid.UUID(key) for key in slot.optional_busy],
        local=local,
    )


class MeetingsController(Controller):
    path = "/api/v1/meetings"
    tags = ["scheduling"]

    @get("/")
    async def my_meetings(
        self, db_session: DbSession, caller: CallerDep, days: FromQuery[int] = 30
    ) -> list[MeetingOut]:
        if not 1 <= days <= 366:
            raise InvalidInput("days", "Days must be between 1 and 366.")
        now = utcnow()
        meetings = await service.meetings_of(
            db_session,
            caller.person.id,
            now - dt.timedelta(days=1),
            now + dt.timedelta(days=days),
            include_cancelled=True,
        )
        await audit.record(db_session, caller.actor, "meeting.list", detail={"count": len(meetings)})
        return [await meeting_out(db_session, meeting) for meeting in meetings]

    @post("/")
    async def create(
        self, db_session: DbSession, caller: CallerDep, settings: SettingsDep, data: JSONBody[MeetingCreate]
    ) -> MeetingOut:
        return await meeting_out(db_session, await service.create(db_session, caller, data, settings))

    @get("/{meeting_id:uuid}")
    async def get_meeting(
        self, db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID]
    ) -> MeetingOut:
        return await meeting_out(db_session, await service.get_for(db_session, caller, meeting_id))

    @put("/{meeting_id:uuid}/time")
    async def reschedule(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        meeting_id: FromPath[uuid.UUID],
        data: JSONBody[Reschedule],
    ) -> MeetingOut:
        return await meeting_out(db_session, await service.reschedule(db_session, caller, meeting_id, data, settings))

    @post("/{meeting_id:uuid}/cancel", status_code=200)
    async def cancel(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        meeting_id: FromPath[uuid.UUID],
        data: JSONBody[MeetingCancel],
    ) -> MeetingOut:
        return await meeting_out(db_session, await service.cancel(db_session, caller, meeting_id, data, settings))

    @post("/{meeting_id:uuid}/occurrences/cancel", status_code=200)
    async def cancel_occurrence(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        meeting_id: FromPath[uuid.UUID],
        data: JSONBody[OccurrenceCancel],
    ) -> MeetingOut:
        meeting = await service.cancel_occurrence(db_session, caller, meeting_id, data, settings)
        return await meeting_out(db_session, meeting)

    @post("/{meeting_id:uuid}/occurrences/move", status_code=200)
    async def move_occurrence(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        meeting_id: FromPath[uuid.UUID],
        data: JSONBody[OccurrenceMove],
    ) -> MeetingOut:
        meeting = await service.move_occurrence(db_session, caller, meeting_id, data, settings)
        return await meeting_out(db_session, meeting)

    @post("/{meeting_id:uuid}/participants", status_code=200)
    async def participants(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        meeting_id: FromPath[uuid.UUID],
        data: JSONBody[ParticipantsChange],
    ) -> MeetingOut:
        meeting = await service.change_participants(db_session, caller, meeting_id, data, settings)
        return await meeting_out(db_session, meeting)

    @put("/{meeting_id:uuid}/response")
    async def respond(
        self, db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID], data: JSONBody[ResponseIn]
    ) -> MeetingOut:
        return await meeting_out(db_session, await service.respond(db_session, caller, meeting_id, data))


class AvailabilityController(Controller):
    path = "/api/v1"
    tags = ["scheduling"]

    @post("/slots", status_code=200)
    async def slots(self, db_session: DbSession, caller: CallerDep, data: JSONBody[SlotQuery]) -> list[SlotOut]:
        found, people = await service.find_slots(db_session, caller, data)
        return [slot_out(slot, people) for slot in found]

    @get("/me/availability")
    async def my_availability(self, db_session: DbSession, caller: CallerDep) -> dict[str, Any]:
        return await availability.describe(db_session, caller.person)

    @put("/me/working-hours")
    async def set_hours(
        self, db_session: DbSession, caller: CallerDep, data: JSONBody[AvailabilityIn]
    ) -> dict[str, Any]:
        await availability.set_working_hours(db_session, caller, data)
        return await availability.describe(db_session, caller.person)

    @post("/me/time-off")
    async def add_time_off(self, db_session: DbSession, caller: CallerDep, data: JSONBody[TimeOffIn]) -> dict[str, Any]:
        await availability.add_time_off(db_session, caller, data)
        return await availability.describe(db_session, caller.person)

    @put("/me/external-calendar")
    async def connect(
        self, db_session: DbSession, caller: CallerDep, settings: SettingsDep, data: JSONBody[ExternalCalendarIn]
    ) -> dict[str, Any]:
        await availability.connect_external(db_session, caller, data.url, settings)
        return await availability.describe(db_session, caller.person)

    @delete("/me/external-calendar", status_code=HTTP_204_NO_CONTENT)
    async def disconnect(self, db_session: DbSession, caller: CallerDep) -> None:
        await availability.disconnect_external(db_session, caller)

    @post("/me/feed-token", status_code=201)
    async def rotate_feed(self, db_session: DbSession, caller: CallerDep, settings: SettingsDep) -> dict[str, str]:
        token = await feeds.rotate(db_session, caller)
        return {"url": f"{settings.public_base_url}/calendar/{token}.ics"}

    @delete("/me/feed-token", status_code=HTTP_204_NO_CONTENT)
    async def revoke_feed(self, db_session: DbSession, caller: CallerDep) -> None:
        await feeds.revoke(db_session, caller)


@route(
    "/calendar/{feed:str}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    skip_session=True,
    exclude_from_csrf=True,
    include_in_schema=False,
)
async def calendar_feed(
    request: Request[Any, Any, Any], db_session: DbSession, settings: SettingsDep, feed: FromPath[str]
) -> Response[bytes]:
    """A person's calendar: ETag is the body's hash, so an unchanged feed answers 304."""
    token = feed.removesuffix(".ics")
    if not feed.endswith(".ics") or not 20 <= len(token) <= 100:
        return Response(b"No such calendar.\n", status_code=404, media_type="text/plain")
    await _limit(request, settings, token)
    person = await feeds.person_for_token(db_session, token)
    if person is None:
        return Response(
            b"No such calendar. Its address may have been changed; get the new one from your calendar page.\n",
            status_code=404,
            media_type="text/plain",
        )
    body = await feeds.feed_for(db_session, person, settings, client_address(request))
    etag = '"' + hashlib.sha256(body).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=0, must-revalidate"}
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers)
    return Response(
        body if request.method == HttpMethod.GET else b"",
        media_type="text/calendar; charset=utf-8",
        headers={**headers, "Content-Length": str(len(body))},
    )


async def _limit(request: Request[Any, Any, Any], settings: SettingsDep, token: str) -> None:
    store = request.app.stores.get(FEED_LIMITS_STORE)
    key = feeds.token_hash(token)
    count = int(await store.get(key) or 0) + 1
    remaining = await store.expires_in(key)
    await store.set(key, str(count), expires_in=remaining if remaining and remaining > 0 else 3600)
    if count > settings.feed_requests_per_hour:
        raise TooManyAttempts(
            "This calendar is being fetched too often; try again later.",
            extra={"retry_after_seconds": remaining or 3600},
        )


route_handlers: list[Any] = [MeetingsController, AvailabilityController, calendar_feed]
