"""Scheduling pages: find a time and book, my calendar, a meeting, availability and the calendar feed."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from conference.consent import policy
from conference.consent import service as consent
from conference.consent.service import ConsentMissing
from conference.db import utcnow
from conference.errors import Conflict, DomainError, InvalidInput
from conference.http import CallerDep, DbSession, SettingsDep, recover
from conference.people import service as people
from conference.people.service import Caller, sorted_team
from conference.scheduling import availability, feeds, service
from conference.scheduling.api import slot_out
from conference.scheduling.models import Meeting
from conference.scheduling.schemas import (
    ExternalCalendarIn,
    MeetingCancel,
    MeetingCreate,
    OccurrenceCancel,
    OccurrenceMove,
    ParticipantIn,
    Reschedule,
    ResponseIn,
    SlotQuery,
)
from conference.settings import Settings

KINDS = [("joint_session", "Joint session (the patient attends)"), ("case_review", "Case review (clinicians only)")]
DURATIONS = [30, 45, 60, 90]
REPEATS = [
    ("", "Does not repeat"),
    ("4", "Weekly, 4 times"),
    ("8", "Weekly, 8 times"),
    ("12", "Weekly, 12 times"),
    ("26", "Weekly, 26 times"),
]
RESPONSES = [("accepted", "Accept"), ("tentative", "Maybe"), ("declined", "Decline")]


def _see_other(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


def local_input(value: str, zone: str, field: str) -> dt.datetime:
    """A time typed in a person's own zone (a datetime-local field), as UTC; refuses times that a
    daylight-saving change skips."""
    try:
        naive = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "Give a date and time, for example 2026-03-03T09:00.") from None
    if naive.tzinfo is not None:
        return naive.astimezone(dt.UTC)
    local = naive.replace(tzinfo=ZoneInfo(zone))
    if local.astimezone(dt.UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None) != naive:
        raise InvalidInput(field, "That time does not exist on that day: the clocks change. Choose another time.")
    return local.astimezone(dt.UTC)


# ---- find a time and book -----------------------------------------------------------------------


@get("/schedule")
async def schedule_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromQuery[uuid.UUID | None] = None,
    kind: FromQuery[str] = "case_review",
    duration: FromQuery[int] = 60,
    days: FromQuery[int] = 14,
) -> Template:
    patients = await people.patients_for(db_session, caller)
    context: dict[str, Any] = {
        "caller": caller,
        "patients": patients,
        "kinds": KINDS,
        "durations": DURATIONS,
        "repeats": REPEATS,
        "patient": None,
        "team": [],
        "chosen": [],
        "optional": [],
        "kind": kind,
        "duration": duration,
        "days": days,
        "decision": None,
        "fix_url": None,
        "slots": [],
        "people": {},
        "error": None,
    }
    if patient_id is None:
        return Template(template_name="scheduling/schedule.html.j2", context=context)
    patient = await people.patient_for_clinician(db_session, caller, patient_id)
    team = [member for member in sorted_team(patient) if member.person.active]
    chosen_ids = request.query_params.getall("person_ids", []) or [str(caller.person.id)]
    optional_ids = set(request.query_params.getall("optional", []))
    context.update(patient=patient, team=team, chosen=chosen_ids, optional=sorted(optional_ids))
    try:
        if kind not in dict(KINDS):
            raise InvalidInput("kind", "Choose a joint session or a case review.")
        wanted = [ParticipantIn(uuid.UUID(pid), pid not in optional_ids) for pid in chosen_ids]
        ids = {p.person_id for p in wanted} | {caller.person.id}
        decision = await _coverage(db_session, caller, patient, kind, ids)
        context.update(decision=decision, fix_url=f"/patients/{patient.id}/consent")
        if caller.person.id not in {p.person_id for p in wanted}:
            wanted.append(ParticipantIn(caller.person.id, True))
        query = SlotQuery(participants=wanted, duration_minutes=duration, days=days)
        found, people_by_id = await service.find_slots(db_session, caller, query)
        context.update(slots=[slot_out(slot, people_by_id) for slot in found], people=people_by_id)
    except (DomainError, ValueError) as error:
        context["error"] = (
            error if isinstance(error, DomainError) else InvalidInput("person_ids", "Choose from the list.")
        )
    return Template(template_name="scheduling/schedule.html.j2", context=context)


async def _coverage(
    db_session: AsyncSession, caller: Caller, patient: Any, kind: str, person_ids: set[uuid.UUID]
) -> policy.Decision:
    context = await consent.load(db_session, patient)
    members = await consent.members_for(db_session, context, sorted(person_ids))
    action: policy.Action = (
        policy.ScheduleJointSession(members) if kind == "joint_session" else policy.ScheduleCaseReview(members)
    )
    return await consent.check(db_session, caller.actor, patient, action)


@post("/schedule/book")
async def book(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, settings: SettingsDep
) -> Redirect | Template:
    form = await request.form()
    try:
        data = _meeting_from_form(form, caller)
        meeting = await service.create(db_session, caller, data, settings)
    except DomainError as error:
        await recover(db_session, caller)
        return _booking_problem(caller, form, error)
    return _see_other(f"/meetings/{meeting.id}?done=booked")


def _meeting_from_form(form: FormMultiDict, caller: Caller) -> MeetingCreate:
    try:
        patient_id = uuid.UUID(form.get("patient_id", ""))
        optional = set(form.getall("optional", []))
        participants = [ParticipantIn(uuid.UUID(pid), pid not in optional) for pid in form.getall("person_ids", [])]
    except ValueError:
        raise InvalidInput("person_ids", "Choose the patient and the participants from the lists.") from None
    start = dt.datetime.fromisoformat(form["start"]) if form.get("start") else None
    if start is None:
        raise InvalidInput("start", "Choose a time.")
    repeat = form.get("repeat", "")
    duration = int(form.get("duration", "60")) if form.get("duration", "60").isdigit() else 0
    return MeetingCreate(
        kind=form.get("kind", "case_review"),
        patient_id=patient_id,
        start=start,
        duration_minutes=duration,
        participants=participants or [ParticipantIn(caller.person.id, True)],
        rrule=f"FREQ=WEEKLY;COUNT={repeat}" if repeat else None,
        override_reason=form.get("override_reason") or None,
    )


def _booking_problem(caller: Caller, form: FormMultiDict, error: DomainError) -> Template:
    return Template(
        template_name="scheduling/book_problem.html.j2",
        context={
            "caller": caller,
            "error": error,
            "consent_gaps": error.decision.gaps if isinstance(error, ConsentMissing) else [],
            "fix_url": error.fix_url if isinstance(error, ConsentMissing) else None,
            "conflicts": error.extra.get("conflicts", []) if isinstance(error, Conflict) else [],
            "carried": [
                (key, value)
                for key, value in form.multi_items()
                if key in ("patient_id", "kind", "person_ids", "optional", "start", "duration", "repeat")
            ],
            "back_url": f"/schedule?patient_id={form.get('patient_id', '')}&kind={form.get('kind', '')}",
        },
        status_code=error.status_code,
    )


# ---- my calendar --------------------------------------------------------------------------------


@get("/calendar")
async def my_calendar(db_session: DbSession, caller: CallerDep, week: FromQuery[dt.date | None] = None) -> Template:
    zone = ZoneInfo(caller.person.time_zone)
    today = utcnow().astimezone(zone).date()
    monday = (week or today) - dt.timedelta(days=(week or today).weekday())
    start = dt.datetime.combine(monday, dt.time(), zone)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), zone)
    meetings = await service.meetings_of(db_session, caller.person.id, start, end, include_cancelled=True)
    days: list[dict[str, Any]] = [{"date": monday + dt.timedelta(days=n), "items": []} for n in range(7)]
    for meeting in meetings:
        mine = next((p for p in meeting.participants if p.person_id == caller.person.id), None)
        for instance in service.instances(meeting, start, end):
            local = instance.start.astimezone(zone)
            days[(local.date() - monday).days]["items"].append(
                {
                    "meeting": meeting,
                    "start": local,
                    "end": instance.end.astimezone(zone),
                    "cancelled": instance.cancelled or meeting.status == "cancelled",
                    "moved": instance.moved,
                    "response": mine.response if mine else None,
                }
            )
    for day in days:
        day["items"].sort(key=lambda item: item["start"])
    return Template(
        template_name="scheduling/calendar.html.j2",
        context={
            "caller": caller,
            "days": days,
            "today": today,
            "zone": caller.person.time_zone,
            "previous": monday - dt.timedelta(days=7),
            "next": monday + dt.timedelta(days=7),
        },
    )


# ---- a meeting ----------------------------------------------------------------------------------


@get("/meetings/{meeting_id:uuid}")
async def meeting_page(
    db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID], done: FromQuery[str | None] = None
) -> Template:
    meeting = await service.get_for(db_session, caller, meeting_id)
    return await _meeting_page(db_session, caller, meeting, done=done)


async def _meeting_page(
    db_session: AsyncSession,
    caller: Caller,
    meeting: Meeting,
    *,
    done: str | None = None,
    error: DomainError | None = None,
) -> Template:
    from conference.scheduling.api import meeting_out

    zone = ZoneInfo(caller.person.time_zone)
    details = await meeting_out(db_session, meeting)
    mine = next((p for p in meeting.participants if p.person_id == caller.person.id and p.removed_at is None), None)
    can_edit = meeting.status != "cancelled" and any(
        m.person_id == caller.person.id for m in await _team_of(db_session, meeting)
    )
    return Template(
        template_name="scheduling/meeting.html.j2",
        context={
            "caller": caller,
            "meeting": meeting,
            "details": details,
            "zone": zone,
            "start": meeting.starts_at.astimezone(zone),
            "end": meeting.ends_at.astimezone(zone),
            "occurrences": [
                {
                    "recurrence_id": i.recurrence_id.isoformat(),
                    "start": i.start.astimezone(zone),
                    "end": i.end.astimezone(zone),
                    "cancelled": i.cancelled,
                    "moved": i.moved,
                    "past": i.end < utcnow(),
                }
                for i in service.instances(meeting)
            ]
            if meeting.rrule
            else [],
            "my_response": mine.response if mine else None,
            "responses": RESPONSES,
            "can_edit": can_edit,
            "minutes_points": await _minutes_points(db_session, caller, meeting, zone),
            "done": done,
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


async def _minutes_points(
    db_session: AsyncSession, caller: Caller, meeting: Meeting, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Occurrences that have started, newest first, each with its latest minutes if any exist."""
    from conference.minutes import service as minutes

    now = utcnow()
    started = [item for item in service.instances(meeting) if item.start <= now and not item.cancelled]
    if not started or meeting.status == "cancelled":
        return []
    try:
        written = await minutes.minutes_for_meeting(db_session, caller, meeting.id)
    except DomainError:
        written = []
    latest: dict[dt.datetime, Any] = {}
    for row in written:  # newest version first
        latest.setdefault(row.occurrence_start, row)
    return [
        {
            "occurrence": item.recurrence_id.strftime("%Y%m%dT%H%M%SZ"),
            "start": item.start.astimezone(zone),
            "minutes": latest.get(item.recurrence_id),
        }
        for item in reversed(started)
    ]


async def _team_of(db_session: AsyncSession, meeting: Meeting) -> list[Any]:
    from conference.people.models import Patient

    patient = await db_session.get(Patient, meeting.patient_id)
    return list(patient.team) if patient else []


async def _meeting_action(
    db_session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, action: Any, done: str
) -> Redirect | Template:
    try:
        await action
    except DomainError as error:
        await recover(db_session, caller)
        meeting = await service.get_for(db_session, caller, meeting_id)
        return await _meeting_page(db_session, caller, meeting, error=error)
    return _see_other(f"/meetings/{meeting_id}?done={done}")


@post("/meetings/{meeting_id:uuid}/response")
async def respond(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID]
) -> Redirect | Template:
    form = await request.form()
    response = form.get("response", "")
    if response not in dict(RESPONSES):
        raise InvalidInput("response", "Choose accept, maybe or decline.")
    data = ResponseIn(response=response)  # type: ignore[arg-type]
    return await _meeting_action(
        db_session, caller, meeting_id, service.respond(db_session, caller, meeting_id, data), "responded"
    )


@post("/meetings/{meeting_id:uuid}/reschedule")
async def reschedule(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    meeting_id: FromPath[uuid.UUID],
) -> Redirect | Template:
    form = await request.form()

    async def run() -> Meeting:
        data = Reschedule(
            version=int(form.get("version", "0")),
            start=local_input(form.get("start", ""), caller.person.time_zone, "start"),
            duration_minutes=int(form["duration"]) if form.get("duration", "").isdigit() else None,
            override_reason=form.get("override_reason") or None,
        )
        return await service.reschedule(db_session, caller, meeting_id, data, settings)

    return await _meeting_action(db_session, caller, meeting_id, run(), "rescheduled")


@post("/meetings/{meeting_id:uuid}/cancel")
async def cancel(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    meeting_id: FromPath[uuid.UUID],
) -> Redirect | Template:
    form = await request.form()
    data = MeetingCancel(version=int(form.get("version", "0")))
    return await _meeting_action(
        db_session, caller, meeting_id, service.cancel(db_session, caller, meeting_id, data, settings), "cancelled"
    )


@post("/meetings/{meeting_id:uuid}/occurrence")
async def change_occurrence(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    meeting_id: FromPath[uuid.UUID],
) -> Redirect | Template:
    form = await request.form()

    async def run() -> Meeting:
        version = int(form.get("version", "0"))
        recurrence_id = dt.datetime.fromisoformat(form.get("recurrence_id", ""))
        if form.get("action") == "cancel":
            return await service.cancel_occurrence(
                db_session, caller, meeting_id, OccurrenceCancel(version, recurrence_id), settings
            )
        data = OccurrenceMove(
            version=version,
            recurrence_id=recurrence_id,
            start=local_input(form.get("start", ""), caller.person.time_zone, "start"),
            this_and_following=form.get("scope") == "following",
            override_reason=form.get("override_reason") or None,
        )
        return await service.move_occurrence(db_session, caller, meeting_id, data, settings)

    return await _meeting_action(db_session, caller, meeting_id, run(), "changed")


# ---- availability and the calendar feed ---------------------------------------------------------


@get("/settings/calendar")
async def calendar_settings(db_session: DbSession, caller: CallerDep, settings: SettingsDep) -> Template:
    return await _settings_page(db_session, caller, settings)


async def _settings_page(
    db_session: AsyncSession,
    caller: Caller,
    settings: Settings,
    *,
    new_url: str | None = None,
    error: DomainError | None = None,
    done: str | None = None,
) -> Template:
    token = await feeds.current_token(db_session, caller.person.id)
    return Template(
        template_name="scheduling/settings.html.j2",
        context={
            "caller": caller,
            "availability": await availability.describe(db_session, caller.person),
            "has_feed": token is not None,
            "feed_created": token.created_at if token else None,
            "new_url": new_url,
            "error": error,
            "done": done,
            "weekdays": availability.WEEKDAYS,
        },
        status_code=error.status_code if error else 200,
    )


@post("/settings/calendar/feed")
async def feed_action(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, settings: SettingsDep
) -> Template:
    form = await request.form()
    if form.get("action") == "revoke":
        await feeds.revoke(db_session, caller)
        return await _settings_page(db_session, caller, settings, done="revoked")
    token = await feeds.rotate(db_session, caller)
    return await _settings_page(
        db_session, caller, settings, new_url=f"{settings.public_base_url}/calendar/{token}.ics"
    )


@post("/settings/calendar/external")
async def external_calendar(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, settings: SettingsDep
) -> Template:
    form = await request.form()
    try:
        if form.get("action") == "disconnect":
            await availability.disconnect_external(db_session, caller)
        else:
            await availability.connect_external(
                db_session, caller, ExternalCalendarIn(url=form.get("url", "")).url, settings
            )
    except DomainError as error:
        return await _settings_page(db_session, caller, settings, error=error)
    return await _settings_page(db_session, caller, settings, done="external")


route_handlers = [
    schedule_page,
    book,
    my_calendar,
    meeting_page,
    respond,
    reschedule,
    cancel,
    change_occurrence,
    calendar_settings,
    feed_action,
    external_calendar,
]
