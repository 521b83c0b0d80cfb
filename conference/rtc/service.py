"""Video rooms: who may enter which room when, and who was there. No media here.

A room belongs to one occurrence of a meeting, named by the meeting and the occurrence's original
start (its recurrence id), so moving an occurrence keeps its room and its attendance. Entering takes
four steps, each a function here, so the media code never decides anything itself:

1. ``ticket_for``: the occurrence exists and is not cancelled; its window comes from settings.
2. ``entrant_for_clinician`` / ``entrant_for_patient``: who this is, and whether they belong there.
3. ``require_open``: the room is open now, or a sentence saying when it opens or that it closed.
4. ``check_admission``, at every admission: everything above again, from fresh rows, and the consent
   policy for clinicians. Deny by default.

Refusals of access are audited and committed at once (with whatever the caller had pending in the
session): the error that follows rolls the caller's transaction back, and the trail must keep them.
Datetimes are timezone-aware throughout; naive ones are refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.audit.service import Actor
from conference.auth.join_links import JoinPurpose
from conference.auth.sessions import PatientSession
from conference.consent import policy
from conference.consent import service as consent
from conference.consent.models import Consent
from conference.consent.policy import Purpose
from conference.errors import Conflict, DomainError, Forbidden, NotFound, require_aware
from conference.people.models import Patient, Person
from conference.people.roles import CLINICAL_ROLES, Role, TeamRole
from conference.people.service import Caller
from conference.rtc.models import Attendance
from conference.rtc.window import RoomWindow, room_window
from conference.scheduling import service as scheduling
from conference.scheduling.models import Meeting
from conference.scheduling.recurrence import Instance
from conference.settings import Settings

Kind = Literal["joint_session", "case_review"]
AttendeeKind = Literal["clinician", "patient"]
LeftReason = Literal["left", "sent_to_lobby", "removed_consent", "disconnected", "room_closed", "service_restart"]

LEFT_REASONS: frozenset[str] = frozenset(get_args(LeftReason))
# A live room refreshes its open stays this often (``touch``); a stay nobody has refreshed for a few
# of these has no room left to refresh it, on this instance or any other (``close_abandoned``).
TOUCH_EVERY = dt.timedelta(seconds=30)
ABANDONED_AFTER = 3 * TOUCH_EVERY
ROOM_PURPOSES: dict[str, Purpose] = {"joint_session": Purpose.JOINT_SESSION, "case_review": Purpose.CASE_REVIEW}

MEETING_NOT_FOUND = scheduling.MEETING_NOT_FOUND
MEETING_CANCELLED = "This meeting was cancelled."
WRONG_LINK = "This link is for a different meeting. Use the link from your most recent invitation."
LINK_NO_LONGER_VALID = "This link is no longer valid. Ask your care team for a new one."


class RoomNotOpen(Conflict):
    """Too early or too late for this room.

    409 rather than 403: the person may enter this room, only not at this moment. The request
    conflicts with the room's state, will succeed unchanged at the right time, and stays
    distinguishable from a refusal (403, e.g. consent), which no waiting will fix.
    """


class MeetingCancelled(Conflict):
    """The meeting, or this occurrence of it, was cancelled."""


@dataclass(frozen=True)
class RoomTicket:
    """One occurrence's room: which meeting, whose, when it runs and when the room is open."""

    meeting_id: uuid.UUID
    occurrence_start: dt.datetime  # original start (recurrence id), UTC: names the room
    starts_at: dt.datetime  # when the occurrence actually runs, after any move, UTC
    ends_at: dt.datetime
    patient_id: uuid.UUID
    kind: Kind
    window: RoomWindow
    time_zone: str  # the organizer's

    @property
    def purpose(self) -> Purpose:
        return ROOM_PURPOSES[self.kind]

    @property
    def key(self) -> str:
        """A stable name for the room, the same on every instance."""
        return f"{self.meeting_id}:{self.occurrence_start.isoformat()}"


@dataclass(frozen=True)
class Entrant:
    """Someone who may be in the room: a clinician (a host) or the patient."""

    key: str  # "person:{id}" or "patient:{id}"
    person_id: uuid.UUID | None
    name: str
    role: str  # display label: "Primary therapist", "Psychiatrist", "Patient", ...
    is_host: bool
    attendee: AttendeeKind


# ---- which room ---------------------------------------------------------------------------------

_OCCURRENCE_FORMAT = "%Y%m%dT%H%M%SZ"


def room_path(meeting_id: uuid.UUID, occurrence_start: dt.datetime) -> str:
    """The room page of one occurrence, named by its original start in UTC."""
    return f"/rooms/{meeting_id}/{occurrence_start.astimezone(dt.UTC):{_OCCURRENCE_FORMAT}}"


def parse_occurrence(text: str) -> dt.datetime:
    """The original start named in a room address; an address that names none is a missing room."""
    try:
        return dt.datetime.strptime(text, _OCCURRENCE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        raise NotFound(MEETING_NOT_FOUND) from None


async def _fresh_meeting(session: AsyncSession, meeting_id: uuid.UUID) -> Meeting | None:
    # populate_existing: a long-lived session must still see a cancellation or a removed participant.
    meeting: Meeting | None = await session.scalar(
        select(Meeting).where(Meeting.id == meeting_id).execution_options(populate_existing=True)
    )
    return meeting


def _live_occurrence(meeting: Meeting, occurrence_start: dt.datetime) -> Instance:
    occurrence = next((i for i in scheduling.instances(meeting) if i.recurrence_id == occurrence_start), None)
    if occurrence is None:
        raise NotFound(MEETING_NOT_FOUND)
    if meeting.status == "cancelled" or occurrence.cancelled:
        raise MeetingCancelled(MEETING_CANCELLED)
    return occurrence


def _kind(value: str) -> Kind:
    if value == "joint_session":
        return "joint_session"
    if value == "case_review":
        return "case_review"
    raise ValueError(f"unknown meeting kind {value!r}")


def _ticket(
    meeting: Meeting, occurrence: Instance, opens_before: dt.timedelta, closes_after: dt.timedelta
) -> RoomTicket:
    return RoomTicket(
        meeting_id=meeting.id,
        occurrence_start=occurrence.recurrence_id,
        starts_at=occurrence.start,
        ends_at=occurrence.end,
        patient_id=meeting.patient_id,
        kind=_kind(meeting.kind),
        window=room_window(occurrence.start, occurrence.end, opens_before=opens_before, closes_after=closes_after),
        time_zone=meeting.time_zone,
    )


async def ticket_for(
    session: AsyncSession, meeting_id: uuid.UUID, occurrence_start: dt.datetime, settings: Settings
) -> RoomTicket:
    """The room of the occurrence whose original start is ``occurrence_start``.

    Says nothing about who asks: call an ``entrant_for_*`` next, before showing anything of it.
    """
    wanted = require_aware(occurrence_start, "occurrence_start")
    meeting = await _fresh_meeting(session, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    return _ticket(
        meeting,
        _live_occurrence(meeting, wanted),
        dt.timedelta(minutes=settings.room_opens_before_minutes),
        dt.timedelta(minutes=settings.room_closes_after_minutes),
    )


# ---- who is entering ----------------------------------------------------------------------------


async def _refuse(session: AsyncSession, actor: Actor, ticket: RoomTicket, reason: str) -> None:
    await audit.record(
        session,
        actor,
        "room.refused",
        patient_id=ticket.patient_id,
        subject=f"meeting:{ticket.meeting_id}",
        detail={"occurrence": ticket.occurrence_start.isoformat(), "reason": reason},
    )
    # Committed now, because the error that follows rolls the caller's transaction back.
    await session.commit()


def _is_active_participant(meeting: Meeting, person_id: uuid.UUID) -> bool:
    return any(p.person_id == person_id for p in scheduling.active_participants(meeting))


def _clinician_label(patient: Patient | None, person: Person) -> str:
    member = next((m for m in patient.team if m.person_id == person.id), None) if patient else None
    # "Other" tells the room nothing; the person's own role says more.
    if member is not None and member.role is not TeamRole.OTHER:
        return member.role.label
    held = person.roles
    first = next((role for role in Role if role in CLINICAL_ROLES and role in held), None)
    return first.label if first else "Clinician"


async def entrant_for_clinician(session: AsyncSession, caller: Caller, ticket: RoomTicket) -> Entrant:
    """The caller, if an active participant of the meeting; anyone else learns nothing of it."""
    meeting = await _fresh_meeting(session, ticket.meeting_id)
    if (
        meeting is None
        or meeting.patient_id != ticket.patient_id
        or not caller.person.active
        or not _is_active_participant(meeting, caller.person.id)
    ):
        await _refuse(session, caller.actor, ticket, "not_a_participant")
        raise NotFound(MEETING_NOT_FOUND)
    patient = await session.get(Patient, ticket.patient_id)
    return Entrant(
        key=f"person:{caller.person.id}",
        person_id=caller.person.id,
        name=caller.person.name,
        role=_clinician_label(patient, caller.person),
        is_host=True,
        attendee="clinician",
    )


def link_subjects(ticket: RoomTicket) -> frozenset[str]:
    """The ``subject_id`` values of join links that name this occurrence.

    ``scheduling.invitations.join_link`` builds ``f"{meeting.id}:{start.isoformat()}"``, but with
    different starts: invitations pass the meeting's start (the original start of a single meeting or
    of a series' first occurrence), reminders pass the occurrence's actual start, which differs from
    its original start once it was moved. Both name this occurrence, so both are accepted.
    """
    return frozenset(
        f"{ticket.meeting_id}:{moment.astimezone(dt.UTC).isoformat()}"
        for moment in (ticket.occurrence_start, ticket.starts_at)
    )


async def entrant_for_patient(
    session: AsyncSession, patient_session: PatientSession, ticket: RoomTicket, *, client_address: str | None = None
) -> Entrant:
    """The patient, if their link names this joint-session occurrence."""
    actor = Actor(kind="patient", id=patient_session.patient_id, client_address=client_address)
    # A case review looks exactly like another meeting's link: a patient never learns one exists.
    if (
        ticket.kind != "joint_session"
        or patient_session.purpose is not JoinPurpose.JOINT_SESSION
        or patient_session.patient_id != ticket.patient_id
        or patient_session.subject_id not in link_subjects(ticket)
    ):
        await _refuse(session, actor, ticket, "wrong_link")
        raise Forbidden(WRONG_LINK)
    patient = await session.get(Patient, ticket.patient_id)
    if patient is None or not patient.active:
        await _refuse(session, actor, ticket, "patient_inactive")
        raise Forbidden(LINK_NO_LONGER_VALID)
    return Entrant(
        key=f"patient:{patient.id}",
        person_id=None,
        name=patient.name,
        role="Patient",
        is_host=False,
        attendee="patient",
    )


# ---- when ---------------------------------------------------------------------------------------


def _moment_text(moment: dt.datetime, zone: ZoneInfo, now: dt.datetime) -> str:
    """'2:45 PM on Monday, 23 November', with the year only when it is not this year."""
    local = moment.astimezone(zone)
    clock = f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    year = "" if local.year == now.astimezone(zone).year else f" {local.year}"
    return f"{clock} on {local:%A}, {local.day} {local:%B}{year}"


def _duration_text(span: dt.timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def require_open(ticket: RoomTicket, now: dt.datetime, zone_name: str) -> None:
    """Refuse, in words for the person in ``zone_name``, when the room is not open at ``now``."""
    moment = require_aware(now, "now")
    if ticket.window.contains(moment):
        return
    zone = ZoneInfo(zone_name)
    extra = {"opens_at": ticket.window.opens_at.isoformat(), "closes_at": ticket.window.closes_at.isoformat()}
    if moment < ticket.window.opens_at:
        ahead = _duration_text(ticket.starts_at - ticket.window.opens_at)
        raise RoomNotOpen(
            f"The room opens at {_moment_text(ticket.window.opens_at, zone, moment)} ({ahead} before the meeting). "
            "Come back then.",
            extra={**extra, "state": "not_open_yet"},
        )
    raise RoomNotOpen(
        f"This meeting has ended; the room closed at {_moment_text(ticket.window.closes_at, zone, moment)}.",
        extra={**extra, "state": "closed"},
    )


# ---- admission ----------------------------------------------------------------------------------


async def _fresh(session: AsyncSession, ticket: RoomTicket) -> tuple[Meeting, RoomTicket]:
    """The meeting as it is now, and the ticket with the occurrence's current times."""
    meeting = await _fresh_meeting(session, ticket.meeting_id)
    if meeting is None or meeting.patient_id != ticket.patient_id or meeting.kind != ticket.kind:
        raise NotFound(MEETING_NOT_FOUND)
    occurrence = _live_occurrence(meeting, ticket.occurrence_start)
    # Moved since the ticket was made: the room moves with the occurrence, keeping the same margins.
    current = _ticket(
        meeting,
        occurrence,
        ticket.starts_at - ticket.window.opens_at,
        ticket.window.closes_at - ticket.ends_at,
    )
    return meeting, dataclasses.replace(current, time_zone=ticket.time_zone)


async def _fresh_patient(session: AsyncSession, patient_id: uuid.UUID) -> Patient | None:
    patient: Patient | None = await session.scalar(
        select(Patient).where(Patient.id == patient_id).execution_options(populate_existing=True)
    )
    if patient is not None:
        # consent.load reads these through the identity map; refreshed here so a revocation committed
        # by another session since they were first loaded is seen.
        await session.scalars(
            select(Consent).where(Consent.patient_id == patient_id).execution_options(populate_existing=True)
        )
    return patient


async def _admit_patient(
    session: AsyncSession, meeting: Meeting, ticket: RoomTicket, entrant: Entrant, now: dt.datetime
) -> None:
    if (
        ticket.kind != "joint_session"
        or entrant.person_id is not None
        or entrant.key != f"patient:{ticket.patient_id}"
        or not any(p.is_patient for p in scheduling.active_participants(meeting))
    ):
        raise Forbidden(WRONG_LINK)
    patient = await _fresh_patient(session, ticket.patient_id)
    if patient is None or not patient.active:
        raise Forbidden(LINK_NO_LONGER_VALID)
    # Their own joint session needs no consent from them: joining it is the patient's own choice.
    require_open(ticket, now, patient.time_zone)


async def _admit_clinician(
    session: AsyncSession, actor: Actor, meeting: Meeting, ticket: RoomTicket, entrant: Entrant, now: dt.datetime
) -> None:
    person = (
        await session.scalar(
            select(Person).where(Person.id == entrant.person_id).execution_options(populate_existing=True)
        )
        if entrant.person_id is not None
        else None
    )
    if person is None or not person.active or entrant.key != f"person:{person.id}":
        raise NotFound(MEETING_NOT_FOUND)
    require_open(ticket, now, person.time_zone)
    patient = await _fresh_patient(session, ticket.patient_id)
    if patient is None:
        raise NotFound(MEETING_NOT_FOUND)
    context = await consent.load(session, patient)
    (member,) = await consent.members_for(session, context, [person.id])
    # Before the participant check: someone taken out of the meeting because the patient's consent no
    # longer covers them is told that, not just that the meeting is not theirs.
    await consent.require(session, actor, patient, policy.AdmitToRoom(member, ticket.purpose), at=now)
    if not _is_active_participant(meeting, person.id):
        raise NotFound(MEETING_NOT_FOUND)


async def check_admission(
    session: AsyncSession, actor: Actor, ticket: RoomTicket, entrant: Entrant, now: dt.datetime
) -> None:
    """May ``entrant`` be in this room at ``now``? Returns only if everything says yes.

    Reads everything afresh (the meeting, the occurrence's times, the person, the patient's care team
    and consents), so call it at every admission, including a patient let in from the lobby.
    Raises NotFound, MeetingCancelled, RoomNotOpen, Forbidden or consent.ConsentMissing.
    """
    moment = require_aware(now, "now")
    try:
        meeting, current = await _fresh(session, ticket)
        if entrant.attendee == "patient":
            await _admit_patient(session, meeting, current, entrant, moment)
        elif entrant.attendee == "clinician":
            await _admit_clinician(session, actor, meeting, current, entrant, moment)
        else:
            raise Forbidden(WRONG_LINK)
    except DomainError as error:
        await _refuse(session, actor, ticket, type(error).__name__)
        raise


def removals_for(loss: consent.CoverageLoss) -> list[tuple[uuid.UUID, uuid.UUID, Purpose]]:
    """(patient, person, purpose) whose presence in the patient's rooms of that kind must end now."""
    room_purposes = set(ROOM_PURPOSES.values())
    found = [(loss.patient_id, item.person_id, item.purpose) for item in loss.lost if item.purpose in room_purposes]
    return list(dict.fromkeys(found))


# ---- attendance ---------------------------------------------------------------------------------


def entrant_actor(ticket: RoomTicket, entrant: Entrant, client_address: str | None) -> Actor:
    """Who acts when this entrant enters or leaves: the patient themself, or the clinician."""
    if entrant.attendee == "patient":
        return Actor(kind="patient", id=ticket.patient_id, client_address=client_address)
    return Actor(kind="person", id=entrant.person_id, client_address=client_address)


async def _stored_role(session: AsyncSession, patient_id: uuid.UUID, person_id: uuid.UUID) -> str:
    patient = await session.get(Patient, patient_id)
    member = next((m for m in patient.team if m.person_id == person_id), None) if patient else None
    if member is not None:
        return member.team_role
    # Only reachable when admission was not checked; the person's own role is the truest record then.
    person = await session.get(Person, person_id)
    held = person.roles if person else frozenset()
    return next((role.value for role in Role if role in CLINICAL_ROLES and role in held), "clinician")


async def record_join(
    session: AsyncSession, ticket: RoomTicket, entrant: Entrant, at: dt.datetime, *, client_address: str | None = None
) -> uuid.UUID:
    """Start an attendance row; returns its id, which the caller keeps to touch and close it."""
    moment = require_aware(at, "at")
    if (entrant.attendee == "patient") != (entrant.person_id is None):
        raise ValueError("a patient entrant has no person id, and a clinician entrant has one")
    role = "patient" if entrant.person_id is None else await _stored_role(session, ticket.patient_id, entrant.person_id)
    row = Attendance(
        meeting_id=ticket.meeting_id,
        occurrence_start=ticket.occurrence_start,
        patient_id=ticket.patient_id,
        person_id=entrant.person_id,
        attendee=entrant.attendee,
        role=role,
        joined_at=moment,
        last_seen_at=moment,
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        entrant_actor(ticket, entrant, client_address),
        "room.join",
        patient_id=ticket.patient_id,
        subject=f"meeting:{ticket.meeting_id}",
        detail={"occurrence": ticket.occurrence_start.isoformat(), "attendance": str(row.id), "role": role},
    )
    return row.id


async def record_leave(
    session: AsyncSession,
    attendance_id: uuid.UUID,
    at: dt.datetime,
    reason: LeftReason,
    *,
    actor: Actor | None = None,
) -> None:
    """Close an attendance row. Leaving again changes nothing: the first departure stands.

    ``actor`` is who ended the stay (a host sending someone to the lobby); by default the attendee
    for "left", the service for everything else.
    """
    if reason not in LEFT_REASONS:
        raise ValueError(f"unknown reason {reason!r}")
    moment = require_aware(at, "at")
    row = await session.scalar(
        select(Attendance)
        .where(Attendance.id == attendance_id)
        # Two departures at once (a leave and a dropped connection) must not both write.
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("No such attendance.")
    if row.left_at is not None:
        return
    row.left_at = max(moment, row.joined_at)
    row.last_seen_at = max(row.last_seen_at, row.left_at)
    row.left_reason = reason
    await session.flush()
    if actor is None:
        if reason != "left":
            actor = Actor.system()
        elif row.person_id is None:
            actor = Actor(kind="patient", id=row.patient_id)
        else:
            actor = Actor(kind="person", id=row.person_id)
    await audit.record(
        session,
        actor,
        "room.leave",
        patient_id=row.patient_id,
        subject=f"meeting:{row.meeting_id}",
        detail={"occurrence": row.occurrence_start.isoformat(), "attendance": str(row.id), "reason": reason},
    )


async def touch(session: AsyncSession, attendance_ids: Iterable[uuid.UUID], at: dt.datetime) -> None:
    """Mark these stays as still going at ``at`` (a heartbeat; not audited, it discloses nothing new)."""
    ids = list(attendance_ids)
    if not ids:
        return
    moment = require_aware(at, "at")
    await session.execute(
        update(Attendance)
        .where(Attendance.id.in_(ids), Attendance.left_at.is_(None), Attendance.last_seen_at < moment)
        .values(last_seen_at=moment)
    )


async def close_abandoned(
    session: AsyncSession,
    now: dt.datetime,
    *,
    stale_after: dt.timedelta = ABANDONED_AFTER,
    keep: Collection[uuid.UUID] = (),
) -> int:
    """Close stays left open by a service that stopped or lost its rooms, each at its last sign of life.

    Only stays not refreshed for ``stale_after`` (several ``TOUCH_EVERY`` intervals) are closed, so
    rooms live on any instance keep theirs; ``keep`` names stays the calling instance still holds,
    which are never closed however late their refresh. Safe to run on every instance, at start-up
    and periodically.
    """
    if stale_after <= TOUCH_EVERY:
        raise ValueError("stale_after must be longer than the interval at which live rooms refresh their stays")
    cutoff = require_aware(now, "now") - stale_after
    rows = list(
        await session.scalars(
            select(Attendance)
            .where(
                Attendance.left_at.is_(None),
                Attendance.last_seen_at < cutoff,
                Attendance.id.not_in(list(keep)),
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    for row in rows:
        row.left_at, row.left_reason = row.last_seen_at, "service_restart"
    await session.flush()
    for row in rows:
        await audit.record(
            session,
            Actor.system(),
            "room.leave",
            patient_id=row.patient_id,
            subject=f"meeting:{row.meeting_id}",
            detail={
                "occurrence": row.occurrence_start.isoformat(),
                "attendance": str(row.id),
                "reason": "service_restart",
            },
        )
    return len(rows)


async def attendance_for(
    session: AsyncSession, meeting_id: uuid.UUID, occurrence_start: dt.datetime, *, actor: Actor | None = None
) -> list[Attendance]:
    """Every stay in one occurrence's room, in the order people joined. The read is audited."""
    wanted = require_aware(occurrence_start, "occurrence_start")
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    rows = list(
        await session.scalars(
            select(Attendance)
            .where(Attendance.meeting_id == meeting_id, Attendance.occurrence_start == wanted)
            .order_by(Attendance.joined_at, Attendance.id)
        )
    )
    await audit.record(
        session,
        actor or Actor.system(),
        "room.attendance_read",
        patient_id=meeting.patient_id,
        subject=f"meeting:{meeting_id}",
        detail={"occurrence": wanted.isoformat(), "rows": len(rows)},
    )
    return rows


async def stays_between(
    session: AsyncSession, start: dt.datetime, end: dt.datetime, *, patient_ids: Collection[uuid.UUID]
) -> list[tuple[Attendance, Kind]]:
    """Stays in rooms about these patients that overlap [start, end), each with its meeting's kind,
    in the order people joined. A stay still open overlaps until it was last seen.

    Not audited: this reads the record for a use case that discloses something of it, and that use
    case audits what it discloses.
    """
    begins, ends = require_aware(start, "start"), require_aware(end, "end")
    ids = list(patient_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(Attendance, Meeting.kind)
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(
            Attendance.patient_id.in_(ids),
            Attendance.joined_at < ends,
            or_(
                Attendance.left_at > begins,
                and_(Attendance.left_at.is_(None), Attendance.last_seen_at > begins),
            ),
        )
        .order_by(Attendance.joined_at, Attendance.id)
    )
    return [(row, _kind(kind)) for row, kind in rows.tuples()]
