"""Scheduling use cases: meetings, their occurrences and participants, availability and slots.

Every change that adds people or moves a meeting asks the consent policy first; every change
participants should hear about is followed by invitations through the email outbox, in the same
transaction. Conflicts with participants' other meetings answer 409 unless the organizer gives a
reason to override, which is kept.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.consent import policy
from conference.consent import service as consent
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound, require_aware, require_version
from conference.people import service as people
from conference.people.models import Patient, Person
from conference.people.service import Caller, valid_time_zone
from conference.scheduling import invitations, recurrence, slots
from conference.scheduling.models import (
    ExternalCalendar,
    Meeting,
    MeetingParticipant,
    OccurrenceException,
    TimeOff,
    WorkingHours,
)
from conference.scheduling.recurrence import Instance, OccurrenceChange, RecurrenceError
from conference.scheduling.schemas import (
    MeetingCancel,
    MeetingCreate,
    OccurrenceCancel,
    OccurrenceMove,
    ParticipantIn,
    ParticipantsChange,
    Reschedule,
    ResponseIn,
    SlotQuery,
)
from conference.settings import Settings

TITLES = {"joint_session": "Care team meeting", "case_review": "Case review"}
MEETING_NOT_FOUND = "No such meeting, or you are not part of it."
DEFAULT_HOURS = tuple(slots.WeeklyHours(day, dt.time(9), dt.time(17)) for day in range(5))
ACTIVE_STATUSES = ("proposed", "booked")


# ---- reading ------------------------------------------------------------------------------------


def changes(meeting: Meeting) -> list[OccurrenceChange]:
    return [
        OccurrenceChange(row.recurrence_id, row.cancelled, row.starts_at, row.ends_at) for row in meeting.exceptions
    ]


def instances(
    meeting: Meeting, window_start: dt.datetime | None = None, window_end: dt.datetime | None = None
) -> list[Instance]:
    return recurrence.instances(
        meeting.starts_at,
        meeting.ends_at,
        meeting.time_zone,
        meeting.rrule,
        changes(meeting),
        window_start=window_start,
        window_end=window_end,
    )


def active_participants(meeting: Meeting) -> list[MeetingParticipant]:
    return [participant for participant in meeting.participants if participant.removed_at is None]


async def get_for(session: AsyncSession, caller: Caller, meeting_id: uuid.UUID) -> Meeting:
    """A meeting, for its participants and the patient's care team; every look is audited."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    is_participant = any(p.person_id == caller.person.id for p in meeting.participants)
    if not is_participant:
        try:
            await people.patient_for_clinician(session, caller, meeting.patient_id)
        except NotFound:
            raise NotFound(MEETING_NOT_FOUND) from None
    await audit.record(
        session, caller.actor, "meeting.read", patient_id=meeting.patient_id, subject=f"meeting:{meeting.id}"
    )
    return meeting


async def meetings_of(
    session: AsyncSession,
    person_id: uuid.UUID,
    window_start: dt.datetime,
    window_end: dt.datetime,
    *,
    include_cancelled: bool = False,
    exclude: uuid.UUID | None = None,
) -> list[Meeting]:
    """Meetings a person takes part in (not removed, not declined) that touch the window."""
    query = (
        select(Meeting)
        .join(MeetingParticipant, MeetingParticipant.meeting_id == Meeting.id)
        .where(
            MeetingParticipant.person_id == person_id,
            MeetingParticipant.removed_at.is_(None),
            Meeting.starts_at < window_end,
            Meeting.series_ends_at > window_start,
        )
        .order_by(Meeting.starts_at)
    )
    if not include_cancelled:
        query = query.where(Meeting.status.in_(ACTIVE_STATUSES), MeetingParticipant.response != "declined")
    if exclude is not None:
        query = query.where(Meeting.id != exclude)
    return list((await session.scalars(query)).unique())


# ---- availability -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Busy:
    start: dt.datetime
    end: dt.datetime
    meeting_id: uuid.UUID | None


async def busy_times(
    session: AsyncSession,
    person_id: uuid.UUID,
    window_start: dt.datetime,
    window_end: dt.datetime,
    *,
    exclude: uuid.UUID | None = None,
    with_external: bool = True,
) -> list[Busy]:
    busy = [
        Busy(instance.start, instance.end, meeting.id)
        for meeting in await meetings_of(session, person_id, window_start, window_end, exclude=exclude)
        for instance in instances(meeting, window_start, window_end)
        if not instance.cancelled
    ]
    time_off = await session.scalars(
        select(TimeOff).where(
            TimeOff.person_id == person_id, TimeOff.starts_at < window_end, TimeOff.ends_at > window_start
        )
    )
    busy += [Busy(row.starts_at, row.ends_at, None) for row in time_off]
    if with_external:
        external = await session.scalar(select(ExternalCalendar).where(ExternalCalendar.person_id == person_id))
        if external is not None:
            for start, end in external.busy:
                interval = Busy(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end), None)
                if interval.start < window_end and interval.end > window_start:
                    busy.append(interval)
    return busy


async def working_hours(session: AsyncSession, person_id: uuid.UUID) -> tuple[slots.WeeklyHours, ...]:
    rows = list(await session.scalars(select(WorkingHours).where(WorkingHours.person_id == person_id)))
    if not rows:
        return DEFAULT_HOURS
    return tuple(
        slots.WeeklyHours(row.weekday, row.start_time, row.end_time)
        for row in sorted(rows, key=lambda r: (r.weekday, r.start_time))
    )


async def find_slots(
    session: AsyncSession, caller: Caller, query: SlotQuery
) -> tuple[list[slots.Slot], dict[uuid.UUID, Person]]:
    people_by_id = await _people(session, [p.person_id for p in query.participants])
    start = require_aware(query.start, "start") if query.start else utcnow()
    end = start + dt.timedelta(days=query.days)
    participants = []
    for wanted in query.participants:
        person = people_by_id[wanted.person_id]
        busy = await busy_times(session, person.id, start, end)
        participants.append(
            slots.Participant(
                key=str(person.id),
                time_zone=person.time_zone,
                working_hours=await working_hours(session, person.id),
                busy=tuple(slots.Interval(b.start, b.end) for b in busy),
                required=wanted.required,
            )
        )
    request = slots.SlotRequest(
        participants=tuple(participants),
        duration=dt.timedelta(minutes=query.duration_minutes),
        window_start=start,
        window_end=end,
        granularity=dt.timedelta(minutes=query.granularity_minutes),
        buffer_before=dt.timedelta(minutes=query.buffer_minutes),
        buffer_after=dt.timedelta(minutes=query.buffer_minutes),
        limit=query.limit,
    )
    try:
        found = slots.find_slots(request)
    except slots.SlotRequestError as error:
        raise InvalidInput("participants", str(error)) from None
    await audit.record(session, caller.actor, "scheduling.find_slots", detail={"people": len(participants)})
    return found, people_by_id


# ---- creating and changing ----------------------------------------------------------------------


async def _people(session: AsyncSession, person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Person]:
    found: dict[uuid.UUID, Person] = {}
    for person_id in person_ids:
        person = await session.get(Person, person_id)
        if person is None or not person.active:
            raise InvalidInput("participants", "One of the chosen people is not an active member of staff.")
        found[person_id] = person
    return found


def _dedupe(participants: Sequence[ParticipantIn]) -> list[ParticipantIn]:
    seen: dict[uuid.UUID, ParticipantIn] = {}
    for participant in participants:
        previous = seen.get(participant.person_id)
        seen[participant.person_id] = participant if previous is None or participant.required else previous
    return list(seen.values())


async def _consent_for(
    session: AsyncSession,
    caller: Caller,
    patient: Patient,
    kind: str,
    person_ids: Iterable[uuid.UUID],
    at: dt.datetime,
) -> None:
    context = await consent.load(session, patient)
    members = await consent.members_for(session, context, person_ids)
    action: policy.Action = (
        policy.ScheduleJointSession(members) if kind == "joint_session" else policy.ScheduleCaseReview(members)
    )
    await consent.require(session, caller.actor, patient, action, at=max(at, utcnow()))


@dataclass(frozen=True)
class Clash:
    person_id: uuid.UUID
    name: str
    start: dt.datetime
    end: dt.datetime


async def _check_conflicts(
    session: AsyncSession,
    person_ids: Iterable[uuid.UUID],
    planned: Sequence[Instance],
    *,
    exclude: uuid.UUID | None,
    override_reason: str | None,
    names: dict[uuid.UUID, str],
) -> None:
    live = [instance for instance in planned if not instance.cancelled]
    if not live or override_reason:
        return
    window_start, window_end = min(i.start for i in live), max(i.end for i in live)
    clashes: list[Clash] = []
    for person_id in person_ids:
        for busy in await busy_times(
            session, person_id, window_start, window_end, exclude=exclude, with_external=False
        ):
            if busy.meeting_id is None:
                continue
            if any(busy.start < i.end and i.start < busy.end for i in live):
                clashes.append(Clash(person_id, names.get(person_id, "Someone"), busy.start, busy.end))
    if clashes:
        clashes.sort(key=lambda clash: (clash.start, clash.name))
        shown = "; ".join(f"{c.name} {c.start:%Y-%m-%d %H:%M} to {c.end:%H:%M} UTC" for c in clashes[:5])
        raise Conflict(
            f"This clashes with other meetings: {shown}. Choose another time, or give a reason to book anyway.",
            extra={
                "conflicts": [
                    {
                        "person_id": str(c.person_id),
                        "name": c.name,
                        "start": c.start.isoformat(),
                        "end": c.end.isoformat(),
                    }
                    for c in clashes
                ]
            },
        )


async def _editable(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, version: int
) -> tuple[Meeting, Patient]:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    try:
        patient = await people.patient_for_clinician(session, caller, meeting.patient_id)
    except NotFound:
        raise NotFound(MEETING_NOT_FOUND) from None
    if meeting.status == "cancelled":
        raise Conflict("This meeting is cancelled; book a new one instead.")
    require_version(meeting.version, version, "meeting")
    return meeting, patient


def _validated_times(start: dt.datetime, minutes: int) -> tuple[dt.datetime, dt.datetime]:
    begins = require_aware(start, "start")
    if begins < utcnow() - dt.timedelta(minutes=5):
        raise InvalidInput("start", "That time has already passed; choose a time in the future.")
    if begins > utcnow() + dt.timedelta(days=366):
        raise InvalidInput("start", "Meetings can be booked up to a year ahead.")
    return begins, begins + dt.timedelta(minutes=minutes)


async def create(session: AsyncSession, caller: Caller, data: MeetingCreate, settings: Settings) -> Meeting:
    patient = await people.patient_for_clinician(session, caller, data.patient_id)
    start, end = _validated_times(data.start, data.duration_minutes)
    zone = valid_time_zone(data.time_zone or caller.person.time_zone)
    rule = None
    try:
        if data.rrule:
            rule = recurrence.normalise_rule(data.rrule)
        planned = recurrence.instances(start, end, zone, rule)
    except RecurrenceError as error:
        raise InvalidInput("rrule", str(error)) from None
    wanted = _dedupe([*data.participants, ParticipantIn(caller.person.id, True)])
    staff = await _people(session, [p.person_id for p in wanted])
    await _consent_for(session, caller, patient, data.kind, staff, start)
    await _check_conflicts(
        session,
        staff,
        planned,
        exclude=None,
        override_reason=data.override_reason,
        names={pid: person.name for pid, person in staff.items()},
    )
    meeting_id = uuid.uuid4()
    meeting = Meeting(
        id=meeting_id,
        kind=data.kind,
        patient_id=patient.id,
        organizer_id=caller.person.id,
        title=TITLES[data.kind],
        starts_at=start,
        ends_at=end,
        time_zone=zone,
        rrule=rule,
        series_ends_at=max(instance.end for instance in planned),
        status="booked",
        sequence=0,
        ical_uid=f"{meeting_id}@case-conference",
        conflict_override_reason=data.override_reason,
        participants=[
            MeetingParticipant(
                person_id=p.person_id,
                required=p.required,
                response="accepted" if p.person_id == caller.person.id else "needs-action",
            )
            for p in wanted
        ]
        + (
            [MeetingParticipant(person_id=None, is_patient=True, required=True)] if data.kind == "joint_session" else []
        ),
    )
    session.add(meeting)
    await session.flush()
    await session.refresh(meeting, ["exceptions", "participants"])
    await audit.record(
        session,
        caller.actor,
        "meeting.create",
        patient_id=patient.id,
        subject=f"meeting:{meeting.id}",
        detail={"kind": data.kind, "recurring": rule is not None, "override": bool(data.override_reason)},
    )
    await invitations.send_request(session, meeting, patient, settings)
    return meeting


async def _touch(session: AsyncSession, meeting: Meeting) -> None:
    meeting.sequence += 1
    meeting.updated_at = utcnow()
    await session.flush()
    await session.refresh(meeting, ["exceptions", "participants"])


async def reschedule(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: Reschedule, settings: Settings
) -> Meeting:
    meeting, patient = await _editable(session, caller, meeting_id, data.version)
    minutes = data.duration_minutes or int((meeting.ends_at - meeting.starts_at).total_seconds() // 60)
    start, end = _validated_times(data.start, minutes)
    planned = recurrence.instances(start, end, meeting.time_zone, meeting.rrule)
    people_ids = [p.person_id for p in active_participants(meeting) if p.person_id]
    await _consent_for(session, caller, patient, meeting.kind, people_ids, start)
    names = {pid: person.name for pid, person in (await _people(session, people_ids)).items()}
    await _check_conflicts(
        session, people_ids, planned, exclude=meeting.id, override_reason=data.override_reason, names=names
    )
    # Moving the whole series drops per-occurrence changes, as calendar clients do.
    meeting.exceptions.clear()
    meeting.starts_at, meeting.ends_at = start, end
    meeting.series_ends_at = max(instance.end for instance in planned)
    meeting.conflict_override_reason = data.override_reason or meeting.conflict_override_reason
    await _touch(session, meeting)
    await audit.record(
        session, caller.actor, "meeting.reschedule", patient_id=patient.id, subject=f"meeting:{meeting.id}"
    )
    await invitations.send_request(session, meeting, patient, settings)
    return meeting


async def cancel(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: MeetingCancel, settings: Settings
) -> Meeting:
    meeting, patient = await _editable(session, caller, meeting_id, data.version)
    meeting.status = "cancelled"
    await _touch(session, meeting)
    await audit.record(session, caller.actor, "meeting.cancel", patient_id=patient.id, subject=f"meeting:{meeting.id}")
    await invitations.send_cancel(session, meeting, patient, settings, active_participants(meeting))
    return meeting


def _occurrence(meeting: Meeting, recurrence_id: dt.datetime) -> Instance:
    wanted = require_aware(recurrence_id, "recurrence_id")
    for instance in instances(meeting):
        if instance.recurrence_id == wanted:
            return instance
    raise InvalidInput("recurrence_id", "That is not an occurrence of this meeting.")


async def cancel_occurrence(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: OccurrenceCancel, settings: Settings
) -> Meeting:
    meeting, patient = await _editable(session, caller, meeting_id, data.version)
    if meeting.rrule is None:
        raise InvalidInput("recurrence_id", "This meeting does not repeat; cancel the meeting instead.")
    occurrence = _occurrence(meeting, data.recurrence_id)
    if occurrence.cancelled:
        raise Conflict("That occurrence is already cancelled.")
    _set_exception(meeting, occurrence.recurrence_id, cancelled=True, start=occurrence.start, end=occurrence.end)
    await _touch(session, meeting)
    await audit.record(
        session,
        caller.actor,
        "meeting.cancel_occurrence",
        patient_id=patient.id,
        subject=f"meeting:{meeting.id}",
        detail={"occurrence": occurrence.recurrence_id.isoformat()},
    )
    await invitations.send_cancel(
        session, meeting, patient, settings, active_participants(meeting), recurrence_id=occurrence.recurrence_id
    )
    return meeting


def _set_exception(
    meeting: Meeting, recurrence_id: dt.datetime, *, cancelled: bool, start: dt.datetime, end: dt.datetime
) -> None:
    existing = next((row for row in meeting.exceptions if row.recurrence_id == recurrence_id), None)
    if existing is None:
        existing = OccurrenceException(recurrence_id=recurrence_id, sequence=0)
        meeting.exceptions.append(existing)
    existing.cancelled, existing.starts_at, existing.ends_at = cancelled, start, end
    existing.sequence = meeting.sequence + 1
    existing.updated_at = utcnow()


async def move_occurrence(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: OccurrenceMove, settings: Settings
) -> Meeting:
    """Move one occurrence, or with ``this_and_following`` split the series there and move the rest."""
    meeting, patient = await _editable(session, caller, meeting_id, data.version)
    if meeting.rrule is None:
        raise InvalidInput("recurrence_id", "This meeting does not repeat; reschedule the meeting instead.")
    occurrence = _occurrence(meeting, data.recurrence_id)
    minutes = data.duration_minutes or int((occurrence.end - occurrence.start).total_seconds() // 60)
    start, end = _validated_times(data.start, minutes)
    people_ids = [p.person_id for p in active_participants(meeting) if p.person_id]
    await _consent_for(session, caller, patient, meeting.kind, people_ids, start)
    names = {pid: person.name for pid, person in (await _people(session, people_ids)).items()}
    if data.this_and_following:
        return await _split(session, caller, meeting, patient, occurrence, start, end, data, names, settings)
    planned = [Instance(occurrence.recurrence_id, start, end, cancelled=False, moved=True)]
    await _check_conflicts(
        session, people_ids, planned, exclude=meeting.id, override_reason=data.override_reason, names=names
    )
    _set_exception(meeting, occurrence.recurrence_id, cancelled=False, start=start, end=end)
    meeting.series_ends_at = max(meeting.series_ends_at, end)
    await _touch(session, meeting)
    await audit.record(
        session,
        caller.actor,
        "meeting.move_occurrence",
        patient_id=patient.id,
        subject=f"meeting:{meeting.id}",
        detail={"occurrence": occurrence.recurrence_id.isoformat()},
    )
    await invitations.send_request(session, meeting, patient, settings)
    return meeting


async def _split(
    session: AsyncSession,
    caller: Caller,
    meeting: Meeting,
    patient: Patient,
    occurrence: Instance,
    start: dt.datetime,
    end: dt.datetime,
    data: OccurrenceMove,
    names: dict[uuid.UUID, str],
    settings: Settings,
) -> Meeting:
    assert meeting.rrule is not None
    try:
        before, after = recurrence.split_rule(
            meeting.rrule, meeting.starts_at, meeting.time_zone, occurrence.recurrence_id
        )
        planned = recurrence.instances(start, end, meeting.time_zone, after)
    except RecurrenceError as error:
        raise InvalidInput("recurrence_id", str(error)) from None
    people_ids = [p.person_id for p in active_participants(meeting) if p.person_id]
    await _check_conflicts(
        session, people_ids, planned, exclude=meeting.id, override_reason=data.override_reason, names=names
    )
    new_id = uuid.uuid4()
    following = Meeting(
        id=new_id,
        kind=meeting.kind,
        patient_id=meeting.patient_id,
        organizer_id=meeting.organizer_id,
        title=meeting.title,
        starts_at=start,
        ends_at=end,
        time_zone=meeting.time_zone,
        rrule=after,
        series_ends_at=max(i.end for i in planned),
        status=meeting.status,
        sequence=0,
        ical_uid=f"{new_id}@case-conference",
        conflict_override_reason=data.override_reason,
        split_from_id=meeting.id,
        participants=[
            MeetingParticipant(person_id=p.person_id, is_patient=p.is_patient, required=p.required, response=p.response)
            for p in active_participants(meeting)
        ],
    )
    meeting.rrule = before
    meeting.exceptions[:] = [row for row in meeting.exceptions if row.recurrence_id < occurrence.recurrence_id]
    meeting.series_ends_at = recurrence.last_end(
        meeting.starts_at, meeting.ends_at, meeting.time_zone, before, changes(meeting)
    )
    session.add(following)
    await session.flush()
    await session.refresh(following, ["exceptions", "participants"])
    await _touch(session, meeting)
    await audit.record(
        session,
        caller.actor,
        "meeting.split",
        patient_id=patient.id,
        subject=f"meeting:{meeting.id}",
        detail={"following": str(new_id)},
    )
    await invitations.send_request(session, meeting, patient, settings)
    await invitations.send_request(session, following, patient, settings)
    return following


async def change_participants(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: ParticipantsChange, settings: Settings
) -> Meeting:
    meeting, patient = await _editable(session, caller, meeting_id, data.version)
    present = {p.person_id: p for p in active_participants(meeting) if p.person_id}
    adding = [p for p in _dedupe(data.add) if p.person_id not in present]
    removing = [present[person_id] for person_id in data.remove if person_id in present]
    if meeting.organizer_id in {p.person_id for p in removing}:
        raise InvalidInput("remove", "The organizer cannot be removed; cancel the meeting or hand it over first.")
    if adding:
        staying = [pid for pid in present if pid not in {p.person_id for p in removing}]
        all_ids = staying + [p.person_id for p in adding]
        await _people(session, [p.person_id for p in adding])
        await _consent_for(session, caller, patient, meeting.kind, all_ids, meeting.starts_at)
        names = {pid: person.name for pid, person in (await _people(session, all_ids)).items()}
        upcoming = [i for i in instances(meeting) if i.end > utcnow()]
        await _check_conflicts(
            session,
            [p.person_id for p in adding],
            upcoming,
            exclude=meeting.id,
            override_reason=data.override_reason,
            names=names,
        )
    for participant in removing:
        participant.removed_at, participant.removed_reason = utcnow(), "removed by the organizer"
    for wanted in adding:
        previous = next((p for p in meeting.participants if p.person_id == wanted.person_id), None)
        if previous is not None:
            previous.removed_at, previous.removed_reason, previous.required = None, None, wanted.required
            previous.response = "needs-action"
        else:
            meeting.participants.append(MeetingParticipant(person_id=wanted.person_id, required=wanted.required))
    await _touch(session, meeting)
    await audit.record(
        session,
        caller.actor,
        "meeting.participants",
        patient_id=patient.id,
        subject=f"meeting:{meeting.id}",
        detail={"added": [str(p.person_id) for p in adding], "removed": [str(p.person_id) for p in removing]},
    )
    if removing:
        await invitations.send_cancel(session, meeting, patient, settings, removing)
    await invitations.send_request(session, meeting, patient, settings)
    return meeting


async def respond(session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, data: ResponseIn) -> Meeting:
    meeting = await get_for(session, caller, meeting_id)
    mine = next((p for p in active_participants(meeting) if p.person_id == caller.person.id), None)
    if mine is None:
        raise Forbidden("Only the meeting's participants can answer an invitation.")
    mine.response = data.response
    await session.flush()
    await audit.record(
        session,
        caller.actor,
        "meeting.respond",
        patient_id=meeting.patient_id,
        subject=f"meeting:{meeting.id}",
        detail={"response": data.response},
    )
    return meeting


# ---- consent: acting on lost coverage -----------------------------------------------------------


_PURPOSE_OF_KIND = {"joint_session": policy.Purpose.JOINT_SESSION, "case_review": policy.Purpose.CASE_REVIEW}


async def remove_uncovered(session: AsyncSession, loss: consent.CoverageLoss, settings: Settings) -> list[str]:
    """Take people who lost coverage out of the patient's upcoming meetings, and tell them and the
    organizer (without saying why: that would disclose the patient's choice)."""
    now = utcnow()
    effects: list[str] = []
    upcoming = list(
        await session.scalars(
            select(Meeting).where(
                Meeting.patient_id == loss.patient_id, Meeting.series_ends_at > now, Meeting.status.in_(ACTIVE_STATUSES)
            )
        )
    )
    patient = await session.get(Patient, loss.patient_id)
    assert patient is not None
    for meeting in upcoming:
        purpose = _PURPOSE_OF_KIND[meeting.kind]
        lost_ids = {item.person_id for item in loss.lost if item.purpose is purpose}
        removed = [p for p in active_participants(meeting) if p.person_id in lost_ids]
        if not removed:
            continue
        for participant in removed:
            participant.removed_at, participant.removed_reason = now, "no longer covered by the patient's consent"
        meeting.attention = "Some participants were removed because the patient's consent no longer covers them."
        await _touch(session, meeting)
        await invitations.send_cancel(session, meeting, patient, settings, removed)
        await invitations.send_request(session, meeting, patient, settings)
        await invitations.notify_organizer(session, meeting, settings)
        effects.append(f"meeting:{meeting.id}: removed {len(removed)} participant(s)")
    return effects


consent.on_coverage_lost(remove_uncovered)
