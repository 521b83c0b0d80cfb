"""Minutes use cases: open from a meeting, save drafts as they are typed, sign, amend, share.

Who may do what:
- the meeting's clinicians (its organizer and active participants, while on the patient's care
  team) open minutes, edit and see drafts, finalize and amend;
- final minutes go to any member of the care team whom the patient's consent covers for receiving
  minutes with every information class they hold (``sharing.information_classes``); anyone else
  learns nothing.

Concurrent writers: every change first locks the minutes row and only then checks the version it
was based on, so of two saves of the same version exactly one wins and the other is told, with the
server's current version and content, to reconcile. Nothing signed ever changes; the database
refuses it too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from conference import signing
from conference.audit import service as audit
from conference.consent import policy
from conference.consent import service as consent
from conference.consent.policy import InformationClass
from conference.db import utcnow
from conference.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, StaleEdit, require_aware
from conference.minutes import content as minutes_content
from conference.minutes import sharing
from conference.minutes.content import ContentProblem, DraftContent, MinutesContent, Problem, Stay
from conference.minutes.models import Minutes
from conference.people import service as people
from conference.people.models import Patient, Person
from conference.people.service import Caller
from conference.plans import service as plans
from conference.plans.changes import Change
from conference.rtc import service as rooms
from conference.scheduling import service as scheduling
from conference.scheduling.models import Meeting
from conference.settings import Settings

MINUTES_NOT_FOUND = "No such minutes, or you may not see them."
MEETING_NOT_FOUND = scheduling.MEETING_NOT_FOUND
ALREADY_FINAL = "These minutes are final and can no longer change. To correct them, amend them."
MEETING_CLINICIANS_ONLY = "Only the meeting's organizer and participants can write or see its draft minutes."
_KIND_NAMES = {"joint_session": "joint session", "case_review": "case review"}


class IncompleteMinutes(DomainError):
    """Finalizing refused: ``problems`` lists everything that must be fixed first."""

    status_code = 400

    def __init__(self, problems: Sequence[Problem]) -> None:
        count = len(problems)
        super().__init__(
            f"These minutes cannot be finalized yet; fix {'this' if count == 1 else f'these {count} things'} first: "
            + " ".join(problem.message for problem in problems),
            extra={"problems": [{"field": problem.field, "message": problem.message} for problem in problems]},
        )
        self.problems = list(problems)


@dataclass(frozen=True)
class SharedMinutes:
    """Minutes as disclosed to one reader: what classes they hold, and the notice they carry."""

    minutes: Minutes
    classes: frozenset[InformationClass]
    redisclosure_notice: str | None
    amended_by_id: uuid.UUID | None  # the amendment that replaced these, if any


@dataclass(frozen=True)
class Finalized:
    minutes: Minutes
    revision_id: uuid.UUID | None  # the plan revision proposed from them, if they proposed changes


# ---- opening ------------------------------------------------------------------------------------


async def open_minutes(
    session: AsyncSession, caller: Caller, meeting_id: uuid.UUID, occurrence_start: dt.datetime
) -> Minutes:
    """The minutes of one occurrence: the latest version if any exist, else a new draft prefilled
    with who attended and their minutes in the room. Not before the meeting starts."""
    wanted = require_aware(occurrence_start, "occurrence_start")
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    patient = await _patient_for(session, caller, meeting.patient_id, MEETING_NOT_FOUND)
    _require_meeting_clinician(meeting, caller)
    minutes = await _latest(session, meeting.id, wanted)
    created = False
    if minutes is None:
        minutes, created = await _new_draft(session, caller, meeting, wanted, patient)
    await audit.record(
        session,
        caller.actor,
        "minutes.opened",
        patient_id=minutes.patient_id,
        subject=f"minutes:{minutes.id}",
        detail={"meeting": str(meeting.id), "occurrence": wanted.isoformat(), "created": created},
    )
    return minutes


async def _new_draft(
    session: AsyncSession, caller: Caller, meeting: Meeting, occurrence_start: dt.datetime, patient: Patient
) -> tuple[Minutes, bool]:
    """A new draft for a held occurrence, or the one someone else opened a moment ago."""
    occurrence = next((item for item in scheduling.instances(meeting) if item.recurrence_id == occurrence_start), None)
    if occurrence is None:
        raise NotFound(MEETING_NOT_FOUND)
    if meeting.status == "cancelled" or occurrence.cancelled:
        raise Conflict("This meeting was cancelled, so it has no minutes.")
    now = utcnow()
    if now < occurrence.start:
        raise Conflict(
            f"Minutes can be written once the meeting starts, at {_moment(occurrence.start, caller.person)}. "
            "Come back then.",
            extra={"opens_at": occurrence.start.isoformat()},
        )
    attendees = await _attendees(session, caller, meeting, occurrence_start, patient, now)
    inserted = await _insert_or_existing(
        session,
        Minutes(
            meeting_id=meeting.id,
            occurrence_start=occurrence_start,
            patient_id=meeting.patient_id,
            status="draft",
            content=minutes_content.encode(DraftContent(attendees=attendees)),
            author_id=caller.person.id,
            updated_by_id=caller.person.id,
            document_version=1,
        ),
    )
    if inserted is not None:
        return inserted, True
    existing = await _latest(session, meeting.id, occurrence_start)
    assert existing is not None
    return existing, False


async def _attendees(
    session: AsyncSession,
    caller: Caller,
    meeting: Meeting,
    occurrence_start: dt.datetime,
    patient: Patient,
    now: dt.datetime,
) -> list[minutes_content.Attendee]:
    rows = await rooms.attendance_for(session, meeting.id, occurrence_start, actor=caller.actor)
    ids = {row.person_id for row in rows if row.person_id is not None}
    names = await _names(session, ids)
    stays = [
        Stay(
            person_id=row.person_id,
            name=patient.name if row.person_id is None else names.get(row.person_id, "Someone no longer on record"),
            role=row.role,
            joined_at=row.joined_at,
            until=row.left_at or min(row.last_seen_at, now),
        )
        for row in rows
    ]
    return minutes_content.attendees_from_stays(stays)


async def _insert_or_existing(session: AsyncSession, minutes: Minutes) -> Minutes | None:
    """Insert, or None when someone else inserted the same version a moment ago."""
    try:
        async with session.begin_nested():
            session.add(minutes)
            await session.flush()
    except IntegrityError:
        return None
    return minutes


async def _latest(session: AsyncSession, meeting_id: uuid.UUID, occurrence_start: dt.datetime) -> Minutes | None:
    latest: Minutes | None = await session.scalar(
        select(Minutes)
        .where(Minutes.meeting_id == meeting_id, Minutes.occurrence_start == occurrence_start)
        .order_by(Minutes.document_version.desc())
        .limit(1)
    )
    return latest


# ---- writing ------------------------------------------------------------------------------------


async def save_draft(
    session: AsyncSession, caller: Caller, minutes_id: uuid.UUID, raw_content: object, expected_version: int
) -> Minutes:
    """Save a draft as typed. Anything well-formed is kept, however unfinished (checking waits for
    finalizing); a save based on an older version is refused with the current one to reconcile."""
    minutes = await _editable(session, caller, minutes_id, expected_version)
    try:
        draft = minutes_content.decode_draft(raw_content)
    except ContentProblem as problem:
        raise InvalidInput(problem.field, problem.message) from None
    minutes.content = minutes_content.encode(draft)
    minutes.updated_by_id = caller.person.id
    await _flush(session, minutes)
    await audit.record(
        session,
        caller.actor,
        "minutes.saved",
        patient_id=minutes.patient_id,
        subject=f"minutes:{minutes.id}",
        detail={"version": minutes.version},
    )
    return minutes


async def finalize(
    session: AsyncSession,
    caller: Caller,
    minutes_id: uuid.UUID,
    expected_version: int,
    *,
    settings: Settings | None = None,
) -> Finalized:
    """Check everything, sign (who, when, the hash of the exact document) and make final. Plan
    changes the minutes propose (and the version they amend did not) become a plan revision, in
    the same transaction: if the plan cannot take them, nothing is signed. ``settings`` address
    the approvers' email."""
    minutes = await _editable(session, caller, minutes_id, expected_version)
    signable, problems = await _checked(session, minutes)
    if signable is None:
        raise IncompleteMinutes(problems)
    minutes.content = minutes_content.encode(signable)
    minutes.status = "final"
    minutes.signed_by_id = caller.person.id
    minutes.signed_at = utcnow()
    minutes.updated_by_id = caller.person.id
    minutes.content_hash = signing.content_hash(signed_document(minutes))
    await _flush(session, minutes)
    await audit.record(
        session,
        caller.actor,
        "minutes.finalized",
        patient_id=minutes.patient_id,
        subject=f"minutes:{minutes.id}",
        detail={"document_version": minutes.document_version, "content_hash": minutes.content_hash},
    )
    proposed = await _newly_proposed(session, minutes, signable)
    revision_id = None
    if proposed:
        zone = ZoneInfo((await _patient_row(session, minutes.patient_id)).time_zone)
        meeting = await session.get(Meeting, minutes.meeting_id)
        kind = _KIND_NAMES.get(meeting.kind, "meeting") if meeting else "meeting"
        try:
            revision = await plans.propose_revision(
                session,
                caller,
                minutes.patient_id,
                proposed,
                summary=f"Proposed in the minutes of the {kind} of {_day(minutes.occurrence_start, zone)}",
                source_minutes_id=minutes.id,
                settings=settings,
            )
        except InvalidInput as problem:
            # The plan's own words, located in the minutes.
            raise InvalidInput(problem.field.replace("changes", "proposed_changes", 1), problem.message) from None
        revision_id = revision.id
    return Finalized(minutes, revision_id)


async def problems_for(session: AsyncSession, minutes: Minutes) -> list[Problem]:
    """What still stands in the way of finalizing a draft (none for final minutes). Not audited:
    call it after ``read_minutes``, which is."""
    if minutes.is_final:
        return []
    return (await _checked(session, minutes))[1]


async def _checked(session: AsyncSession, minutes: Minutes) -> tuple[MinutesContent | None, list[Problem]]:
    patient = await _patient_row(session, minutes.patient_id)
    zone = ZoneInfo(patient.time_zone)
    owners = {member.person_id: member.person.name for member in patient.team if member.person.active}
    try:
        return minutes_content.check(
            minutes.content,
            owners=owners,
            held_on=minutes.occurrence_start.astimezone(zone).date(),
            today=utcnow().astimezone(zone).date(),
        )
    except ContentProblem as problem:
        raise InvalidInput(problem.field, problem.message) from None


def signed_document(minutes: Minutes) -> dict[str, object]:
    """What the signature's hash covers: the content and what it is the minutes of, so a hash can
    never be moved to another patient's or meeting's minutes."""
    return {
        "minutes_id": minutes.id,
        "patient_id": minutes.patient_id,
        "meeting_id": minutes.meeting_id,
        "occurrence_start": minutes.occurrence_start.astimezone(dt.UTC),
        "document_version": minutes.document_version,
        "amends_id": minutes.amends_id,
        "signed_by_id": minutes.signed_by_id,
        "signed_at": minutes.signed_at.astimezone(dt.UTC) if minutes.signed_at else None,
        "content": minutes.content,
    }


async def _newly_proposed(session: AsyncSession, minutes: Minutes, signable: MinutesContent) -> list[Change]:
    """Changes an amendment carries over were proposed when the version it amends was signed."""
    if minutes.amends_id is None:
        return list(signable.proposed_changes)
    amended = await session.get(Minutes, minutes.amends_id)
    before = minutes_content.decode(amended.content).proposed_changes if amended is not None else []
    return [change for change in signable.proposed_changes if change not in before]


async def amend(session: AsyncSession, caller: Caller, minutes_id: uuid.UUID) -> Minutes:
    """A new draft version of final minutes, starting from their content, that will replace them
    once signed. Only the latest version can be amended, and only once at a time."""
    minutes = await _locked(session, minutes_id)
    await _require_meeting_clinician_of(session, caller, minutes)
    if not minutes.is_final:
        raise Conflict("These minutes are still a draft: edit them instead of amending them.")
    existing = await session.scalar(select(Minutes).where(Minutes.amends_id == minutes.id))
    if existing is not None:
        raise _already_amended(existing)
    amendment = await _insert_or_existing(
        session,
        Minutes(
            meeting_id=minutes.meeting_id,
            occurrence_start=minutes.occurrence_start,
            patient_id=minutes.patient_id,
            status="draft",
            content=dict(minutes.content),
            author_id=caller.person.id,
            updated_by_id=caller.person.id,
            document_version=minutes.document_version + 1,
            amends_id=minutes.id,
        ),
    )
    if amendment is None:
        existing = await session.scalar(select(Minutes).where(Minutes.amends_id == minutes.id))
        raise (
            _already_amended(existing)
            if existing is not None
            else Conflict("Someone amended these minutes a moment ago; open the latest version.")
        )
    await audit.record(
        session,
        caller.actor,
        "minutes.amended",
        patient_id=minutes.patient_id,
        subject=f"minutes:{amendment.id}",
        detail={"amends": str(minutes.id), "document_version": amendment.document_version},
    )
    return amendment


def _already_amended(existing: Minutes) -> Conflict:
    if existing.is_final:
        return Conflict(
            "These minutes were already amended; amend the latest version instead.",
            extra={"minutes_id": str(existing.id)},
        )
    return Conflict(
        "An amendment of these minutes is already open; continue that one.",
        extra={"minutes_id": str(existing.id)},
    )


async def _editable(session: AsyncSession, caller: Caller, minutes_id: uuid.UUID, expected_version: int) -> Minutes:
    minutes = await _locked(session, minutes_id)
    await _require_meeting_clinician_of(session, caller, minutes)
    if minutes.is_final:
        raise Conflict(ALREADY_FINAL, extra={"current_version": minutes.version, "final": True})
    if minutes.version != expected_version:
        editor = await session.get(Person, minutes.updated_by_id)
        raise StaleEdit(
            f"{editor.name if editor else 'Someone'} saved these minutes since you loaded them (your version "
            f"{expected_version}, now {minutes.version}). Compare both, keep what is right, and save again.",
            extra={
                "current_version": minutes.version,
                "content": minutes.content,
                "updated_by_id": str(minutes.updated_by_id),
                "updated_at": minutes.updated_at.isoformat(),
            },
        )
    return minutes


async def _locked(session: AsyncSession, minutes_id: uuid.UUID) -> Minutes:
    """The row, locked until commit, read afresh: the first thing every change does, after taking
    its turn among writers (``audit.queue_writer``), so writers queue in one order."""
    await audit.queue_writer(session)
    minutes: Minutes | None = await session.scalar(
        select(Minutes).where(Minutes.id == minutes_id).with_for_update().execution_options(populate_existing=True)
    )
    if minutes is None:
        raise NotFound(MINUTES_NOT_FOUND)
    return minutes


async def _flush(session: AsyncSession, minutes: Minutes) -> None:
    try:
        await session.flush()
    except StaleDataError:
        # Only reachable if the row lock was bypassed; the answer is the same.
        raise StaleEdit("Someone saved these minutes at the same moment. Reload them and save again.") from None


# ---- reading ------------------------------------------------------------------------------------


async def read_minutes(session: AsyncSession, caller: Caller, minutes_id: uuid.UUID) -> SharedMinutes:
    """Drafts for the meeting's clinicians; final minutes for whom the patient's consent covers."""
    minutes = await session.get(Minutes, minutes_id, populate_existing=True)
    if minutes is None:
        raise NotFound(MINUTES_NOT_FOUND)
    patient = await _patient_for(session, caller, minutes.patient_id, MINUTES_NOT_FOUND)
    if minutes.is_final:
        classes = sharing.information_classes(minutes_content.decode(minutes.content))
        await _require_consent(session, caller, patient, minutes, classes)
    else:
        meeting = await session.get(Meeting, minutes.meeting_id)
        if meeting is None:
            raise NotFound(MINUTES_NOT_FOUND)
        _require_meeting_clinician(meeting, caller)
    shared = await view_of(session, minutes)
    await audit.record(
        session,
        caller.actor,
        "minutes.read",
        patient_id=minutes.patient_id,
        subject=f"minutes:{minutes.id}",
        detail={"status": minutes.status, "classes": sorted(item.value for item in shared.classes)},
    )
    return shared


async def view_of(session: AsyncSession, minutes: Minutes) -> SharedMinutes:
    """The minutes with what they hold and the notice they carry. Asks nobody's permission: for
    ``read_minutes``, and for answering whoever just opened, saved, signed or amended them."""
    if minutes.is_final:
        final = minutes_content.decode(minutes.content)
        classes, notice = sharing.information_classes(final), sharing.redisclosure_notice(final)
    else:
        draft = minutes_content.decode_draft(minutes.content)
        classes, notice = _draft_classes(draft), sharing.redisclosure_notice(draft)
    amendment = await session.scalar(select(Minutes.id).where(Minutes.amends_id == minutes.id))
    return SharedMinutes(minutes, classes, notice, amendment)


def _draft_classes(draft: DraftContent) -> frozenset[InformationClass]:
    """What a draft would hold if signed now; changes not yet well-formed are left out."""
    try:
        return sharing.information_classes(minutes_content.decode(minutes_content.encode(draft)))
    except ContentProblem:
        return sharing.information_classes(minutes_content.finished(draft, []))


async def _require_consent(
    session: AsyncSession,
    caller: Caller,
    patient: Patient,
    minutes: Minutes,
    classes: frozenset[InformationClass],
) -> None:
    context = await consent.load(session, patient)
    (member,) = await consent.members_for(session, context, [caller.person.id])
    try:
        await consent.require(session, caller.actor, patient, policy.ShareMinutes(member, classes))
    except consent.ConsentMissing:
        await audit.record(
            session,
            caller.actor,
            "minutes.read_refused",
            patient_id=minutes.patient_id,
            subject=f"minutes:{minutes.id}",
            detail={"reason": "consent", "classes": sorted(item.value for item in classes)},
        )
        # Committed now, because the error that follows rolls the caller's transaction back.
        await session.commit()
        raise


async def minutes_for_meeting(session: AsyncSession, caller: Caller, meeting_id: uuid.UUID) -> list[Minutes]:
    """Every version of the minutes of every occurrence of a meeting, newest occurrence first.
    A list says what exists, never what it says: reading each is consent-checked."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(MEETING_NOT_FOUND)
    await _patient_for(session, caller, meeting.patient_id, MEETING_NOT_FOUND)
    rows = list(
        await session.scalars(
            select(Minutes)
            .where(Minutes.meeting_id == meeting_id)
            .order_by(Minutes.occurrence_start.desc(), Minutes.document_version.desc())
        )
    )
    await audit.record(
        session, caller.actor, "minutes.listed", patient_id=meeting.patient_id, subject=f"meeting:{meeting_id}"
    )
    return rows


async def minutes_for_patient(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> list[Minutes]:
    """Every version of every minutes about a patient, newest meeting first (what exists, as above)."""
    await _patient_for(session, caller, patient_id, people.PATIENT_NOT_FOUND)
    rows = list(
        await session.scalars(
            select(Minutes)
            .where(Minutes.patient_id == patient_id)
            .order_by(Minutes.occurrence_start.desc(), Minutes.document_version.desc())
        )
    )
    await audit.record(session, caller.actor, "minutes.listed", patient_id=patient_id, subject=f"patient:{patient_id}")
    return rows


async def names_for(session: AsyncSession, minutes: Minutes) -> dict[uuid.UUID, str]:
    """Names of the staff the minutes mention: author, last editor, signer, attendees, owners."""
    ids = {minutes.author_id, minutes.updated_by_id}
    if minutes.signed_by_id is not None:
        ids.add(minutes.signed_by_id)
    draft = minutes_content.decode_draft(minutes.content)
    ids |= {attendee.person_id for attendee in draft.attendees if attendee.person_id is not None}
    ids |= {item.owner_id for item in draft.action_items if item.owner_id is not None}
    return await _names(session, ids)


async def meeting_kind(session: AsyncSession, minutes: Minutes) -> str:
    """joint_session or case_review: the kind of meeting the minutes are of."""
    meeting = await session.get(Meeting, minutes.meeting_id)
    if meeting is None:
        raise NotFound(MINUTES_NOT_FOUND)
    return meeting.kind


# ---- who may ------------------------------------------------------------------------------------


async def _patient_for(session: AsyncSession, caller: Caller, patient_id: uuid.UUID, not_found: str) -> Patient:
    """The patient, if the caller is a clinician on their care team; anyone else learns nothing."""
    try:
        return await people.patient_for_clinician(session, caller, patient_id)
    except NotFound:
        raise NotFound(not_found) from None


async def _patient_row(session: AsyncSession, patient_id: uuid.UUID) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(MINUTES_NOT_FOUND)
    return patient


def _require_meeting_clinician(meeting: Meeting, caller: Caller) -> None:
    person_id = caller.person.id
    if meeting.organizer_id != person_id and not any(
        participant.person_id == person_id for participant in scheduling.active_participants(meeting)
    ):
        raise Forbidden(MEETING_CLINICIANS_ONLY)


async def _require_meeting_clinician_of(session: AsyncSession, caller: Caller, minutes: Minutes) -> None:
    await _patient_for(session, caller, minutes.patient_id, MINUTES_NOT_FOUND)
    meeting = await session.get(Meeting, minutes.meeting_id)
    if meeting is None:
        raise NotFound(MINUTES_NOT_FOUND)
    _require_meeting_clinician(meeting, caller)


async def _names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    return {person_id: name for person_id, name in rows.tuples()}


# ---- wording ------------------------------------------------------------------------------------


def _moment(moment: dt.datetime, person: Person) -> str:
    zone = ZoneInfo(person.time_zone)
    local = moment.astimezone(zone)
    clock = f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"
    return f"{clock} on {local:%A}, {local.day} {local:%B %Y} ({person.time_zone})"


def _day(moment: dt.datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y}"
