"""Video rooms' rules and records: which room, who may enter when, consent at every admission, attendance."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conference.audit.models import AuditEvent
from conference.audit.service import Actor
from conference.auth import join_links
from conference.auth.join_links import JoinPurpose
from conference.auth.sessions import PatientSession
from conference.channels import Channels
from conference.consent import service as consent
from conference.consent.policy import Purpose
from conference.consent.schemas import ConsentTerms, InPersonConsent, ProvisionIn, RevocationIn
from conference.db import utcnow
from conference.errors import Forbidden, InvalidInput, NotFound
from conference.people.service import Caller
from conference.rtc import rooms as live_rooms
from conference.rtc import service as rooms
from conference.rtc.models import Attendance
from conference.rtc.window import RoomWindow
from conference.scheduling import service as scheduling
from conference.scheduling.invitations import join_link
from conference.scheduling.models import Meeting
from conference.scheduling.schemas import (
    MeetingCancel,
    MeetingCreate,
    OccurrenceCancel,
    OccurrenceMove,
    ParticipantIn,
    ParticipantsChange,
)

UTC = dt.UTC


async def give_consent(session, clinic, *purposes: Purpose):  # type: ignore[no-untyped-def]
    await session.refresh(clinic.patient, ["team"])
    terms = ConsentTerms(
        provisions=[
            ProvisionIn(
                purposes=list(purposes or (Purpose.JOINT_SESSION, Purpose.CASE_REVIEW)),
                person_ids=[clinic.therapist.id, clinic.prescriber.id],
            )
        ]
    )
    signed = await consent.record_in_person(
        session,
        Caller(clinic.therapist),
        clinic.patient.id,
        InPersonConsent(terms=terms, signer_name="Pat Patient", signed_on=utcnow().date(), attest=True),
    )
    await session.commit()
    return signed


def future_start(days_ahead: int, hour_utc: int = 15) -> dt.datetime:
    day = (utcnow() + dt.timedelta(days=days_ahead)).date()
    return dt.datetime.combine(day, dt.time(hour_utc), UTC)


async def book(  # type: ignore[no-untyped-def]
    session, settings, clinic, *, kind: str = "joint_session", start: dt.datetime | None = None, rrule=None
) -> Meeting:
    meeting = await scheduling.create(
        session,
        Caller(clinic.therapist),
        MeetingCreate(
            kind=kind,  # type: ignore[arg-type]
            patient_id=clinic.patient.id,
            start=start or future_start(3),
            duration_minutes=60,
            participants=[ParticipantIn(clinic.prescriber.id)],
            time_zone="America/New_York",
            rrule=rrule,
        ),
        settings,
    )
    await session.commit()
    return meeting


async def committed_actions(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with async_sessionmaker(engine)() as fresh:
        return list(await fresh.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def link_session(settings, meeting, clinic, start, end) -> PatientSession:  # type: ignore[no-untyped-def]
    """A patient session opened from the very link scheduling emails, read back as sign-in reads it."""
    token = join_link(meeting, clinic.patient, settings, start, end).rsplit("/", 1)[1]
    claims = join_links.verify(settings.secret_key, token, now=start)
    return PatientSession(claims.patient_id, claims.purpose, claims.subject_id)


# ---- which room ---------------------------------------------------------------------------------


async def test_a_ticket_names_the_occurrence_and_its_window_comes_from_settings(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    configured = dataclasses.replace(settings, room_opens_before_minutes=10, room_closes_after_minutes=30)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, configured)
    assert ticket.meeting_id == meeting.id and ticket.patient_id == clinic.patient.id
    assert ticket.kind == "joint_session" and ticket.purpose is Purpose.JOINT_SESSION
    assert ticket.occurrence_start == ticket.starts_at == meeting.starts_at
    assert ticket.ends_at == meeting.starts_at + dt.timedelta(hours=1)
    assert ticket.time_zone == "America/New_York"
    assert ticket.window == RoomWindow(
        meeting.starts_at - dt.timedelta(minutes=10), meeting.starts_at + dt.timedelta(minutes=90)
    )
    # The same instant in another offset names the same room.
    local = meeting.starts_at.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert await rooms.ticket_for(session, meeting.id, local, configured) == ticket


async def test_a_missing_meeting_and_a_missing_occurrence_look_the_same(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    with pytest.raises(NotFound) as missing_meeting:
        await rooms.ticket_for(session, uuid.uuid4(), meeting.starts_at, settings)
    with pytest.raises(NotFound) as missing_occurrence:
        await rooms.ticket_for(session, meeting.id, meeting.starts_at + dt.timedelta(minutes=1), settings)
    assert missing_meeting.value.message == missing_occurrence.value.message == rooms.MEETING_NOT_FOUND
    with pytest.raises(InvalidInput):
        await rooms.ticket_for(session, meeting.id, meeting.starts_at.replace(tzinfo=None), settings)


async def test_a_cancelled_occurrence_or_meeting_has_no_room(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic, rrule="FREQ=WEEKLY;COUNT=3")
    first, second, _ = scheduling.instances(meeting)
    caller = Caller(clinic.therapist)
    meeting = await scheduling.cancel_occurrence(
        session, caller, meeting.id, OccurrenceCancel(meeting.version, second.recurrence_id), settings
    )
    await session.commit()
    with pytest.raises(rooms.MeetingCancelled, match=r"^This meeting was cancelled\.$"):
        await rooms.ticket_for(session, meeting.id, second.recurrence_id, settings)
    assert (await rooms.ticket_for(session, meeting.id, first.recurrence_id, settings)).starts_at == first.start

    await scheduling.cancel(session, caller, meeting.id, MeetingCancel(meeting.version), settings)
    await session.commit()
    with pytest.raises(rooms.MeetingCancelled) as cancelled:
        await rooms.ticket_for(session, meeting.id, first.recurrence_id, settings)
    assert cancelled.value.status_code == 409


async def test_a_moved_occurrence_keeps_its_room_and_its_window_moves_with_it(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic, rrule="FREQ=WEEKLY;COUNT=3")
    second = scheduling.instances(meeting)[1]
    new_start = second.start + dt.timedelta(days=1, hours=2)
    await scheduling.move_occurrence(
        session,
        Caller(clinic.therapist),
        meeting.id,
        OccurrenceMove(meeting.version, second.recurrence_id, new_start),
        settings,
    )
    await session.commit()
    ticket = await rooms.ticket_for(session, meeting.id, second.recurrence_id, settings)
    assert ticket.occurrence_start == second.recurrence_id
    assert (ticket.starts_at, ticket.ends_at) == (new_start, new_start + dt.timedelta(hours=1))
    assert ticket.window.opens_at == new_start - dt.timedelta(minutes=15)
    # The room is named by the original start only.
    with pytest.raises(NotFound):
        await rooms.ticket_for(session, meeting.id, new_start, settings)


# ---- who enters ---------------------------------------------------------------------------------


async def test_participants_enter_as_hosts_with_their_care_team_role(session, clinic, settings, engine) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    therapist = await rooms.entrant_for_clinician(session, Caller(clinic.therapist), ticket)
    assert therapist == rooms.Entrant(
        key=f"person:{clinic.therapist.id}",
        person_id=clinic.therapist.id,
        name="Theo Therapist",
        role="Primary therapist",
        is_host=True,
        attendee="clinician",
    )
    assert (await rooms.entrant_for_clinician(session, Caller(clinic.prescriber), ticket)).role == "Prescriber"

    with pytest.raises(NotFound) as outsider:
        await rooms.entrant_for_clinician(session, Caller(clinic.outsider), ticket)
    assert outsider.value.message == rooms.MEETING_NOT_FOUND
    [refused] = await committed_actions(engine, "room.refused")
    assert refused.actor_id == clinic.outsider.id and refused.detail["reason"] == "not_a_participant"

    await scheduling.change_participants(
        session,
        Caller(clinic.therapist),
        meeting.id,
        ParticipantsChange(version=meeting.version, remove=[clinic.prescriber.id]),
        settings,
    )
    await session.commit()
    with pytest.raises(NotFound):
        await rooms.entrant_for_clinician(session, Caller(clinic.prescriber), ticket)


async def test_the_patient_enters_with_the_link_scheduling_sent(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    patient_session = link_session(settings, meeting, clinic, meeting.starts_at, meeting.ends_at)
    entrant = await rooms.entrant_for_patient(session, patient_session, ticket)
    assert entrant == rooms.Entrant(
        key=f"patient:{clinic.patient.id}",
        person_id=None,
        name="Pat Patient",
        role="Patient",
        is_host=False,
        attendee="patient",
    )


async def test_a_moved_occurrence_accepts_the_invitations_and_the_reminders_link(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic, rrule="FREQ=WEEKLY;COUNT=3")
    first, second, _ = scheduling.instances(meeting)
    moved_start = second.start + dt.timedelta(hours=3)
    meeting = await scheduling.move_occurrence(
        session,
        Caller(clinic.therapist),
        meeting.id,
        OccurrenceMove(meeting.version, second.recurrence_id, moved_start),
        settings,
    )
    await session.commit()
    ticket = await rooms.ticket_for(session, meeting.id, second.recurrence_id, settings)
    # Reminders name the occurrence by its actual start; a link naming its original start names it too.
    for start in (moved_start, second.recurrence_id):
        link = link_session(settings, meeting, clinic, start, start + dt.timedelta(hours=1))
        assert (await rooms.entrant_for_patient(session, link, ticket)).attendee == "patient"
    first_link = link_session(settings, meeting, clinic, first.start, first.end)
    with pytest.raises(Forbidden, match="different meeting"):
        await rooms.entrant_for_patient(session, first_link, ticket)


async def test_a_link_for_anything_else_is_refused_in_words_a_patient_can_act_on(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    other = await book(session, settings, clinic, start=future_start(4))
    review = await book(session, settings, clinic, kind="case_review", start=future_start(5))
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    right = link_session(settings, meeting, clinic, meeting.starts_at, meeting.ends_at)
    wrong = [
        link_session(settings, other, clinic, other.starts_at, other.ends_at),
        dataclasses.replace(right, purpose=JoinPurpose.CONSENT),
        dataclasses.replace(right, patient_id=clinic.other_patient.id),
        dataclasses.replace(right, subject_id=None),
        dataclasses.replace(right, subject_id=f"{meeting.id}:{meeting.starts_at.replace(tzinfo=None).isoformat()}"),
    ]
    for patient_session in wrong:
        with pytest.raises(Forbidden) as refused:
            await rooms.entrant_for_patient(session, patient_session, ticket)
        assert refused.value.message == rooms.WRONG_LINK
    # Even a link naming the case review itself: a patient never enters one, nor learns it exists.
    review_ticket = await rooms.ticket_for(session, review.id, review.starts_at, settings)
    review_link = dataclasses.replace(right, subject_id=f"{review.id}:{review.starts_at.isoformat()}")
    with pytest.raises(Forbidden) as refused:
        await rooms.entrant_for_patient(session, review_link, review_ticket)
    assert refused.value.message == rooms.WRONG_LINK


# ---- when ---------------------------------------------------------------------------------------


def fixed_ticket(start: dt.datetime) -> rooms.RoomTicket:
    return rooms.RoomTicket(
        meeting_id=uuid.uuid4(),
        occurrence_start=start,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=1),
        patient_id=uuid.uuid4(),
        kind="joint_session",
        window=RoomWindow(start - dt.timedelta(minutes=15), start + dt.timedelta(hours=2)),
        time_zone="America/New_York",
    )


def test_outside_its_window_the_room_says_when_in_the_persons_own_zone() -> None:
    ticket = fixed_ticket(dt.datetime(2026, 11, 23, 20, 0, tzinfo=UTC))  # 3:00 PM in New York
    early = dt.datetime(2026, 11, 23, 19, 44, 59, tzinfo=UTC)
    with pytest.raises(rooms.RoomNotOpen) as before:
        rooms.require_open(ticket, early, "America/New_York")
    assert before.value.message == (
        "The room opens at 2:45 PM on Monday, 23 November (15 minutes before the meeting). Come back then."
    )
    assert before.value.status_code == 409 and before.value.extra["state"] == "not_open_yet"
    with pytest.raises(rooms.RoomNotOpen) as in_london:
        rooms.require_open(ticket, early, "Europe/London")
    assert "7:45 PM on Monday, 23 November" in in_london.value.message

    rooms.require_open(ticket, ticket.window.opens_at, "America/New_York")
    with pytest.raises(rooms.RoomNotOpen) as after:
        rooms.require_open(ticket, ticket.window.closes_at, "America/New_York")
    assert after.value.message == "This meeting has ended; the room closed at 5:00 PM on Monday, 23 November."
    # Looked at in another year, the date says which year.
    with pytest.raises(rooms.RoomNotOpen, match="5:00 PM on Monday, 23 November 2026"):
        rooms.require_open(ticket, dt.datetime(2027, 1, 5, tzinfo=UTC), "America/New_York")


async def test_a_real_tickets_window_is_enforced(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    with pytest.raises(rooms.RoomNotOpen, match=r"\(15 minutes before the meeting\)"):
        rooms.require_open(ticket, meeting.starts_at - dt.timedelta(minutes=16), "UTC")
    rooms.require_open(ticket, meeting.starts_at - dt.timedelta(minutes=15), "UTC")
    with pytest.raises(rooms.RoomNotOpen, match="has ended"):
        rooms.require_open(ticket, meeting.ends_at + dt.timedelta(hours=1), "UTC")


# ---- admission ----------------------------------------------------------------------------------


async def test_admission_asks_consent_every_time_and_a_revocation_takes_effect_at_once(
    session, clinic, settings, engine
) -> None:
    signed = await give_consent(session, clinic, Purpose.JOINT_SESSION, Purpose.CASE_REVIEW, Purpose.SHARE_MINUTES)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    caller = Caller(clinic.therapist)
    therapist = await rooms.entrant_for_clinician(session, caller, ticket)
    patient = await rooms.entrant_for_patient(
        session, link_session(settings, meeting, clinic, meeting.starts_at, meeting.ends_at), ticket
    )
    await session.commit()
    checks_before = len(await committed_actions(engine, "consent.check"))
    await rooms.check_admission(session, caller.actor, ticket, therapist, ticket.starts_at)
    await rooms.check_admission(session, caller.actor, ticket, patient, ticket.starts_at)
    await session.commit()
    checks = await committed_actions(engine, "consent.check")
    # One question for the clinician; the patient needs no consent to join their own session.
    assert len(checks) == checks_before + 1 and checks[-1].detail["action"] == "AdmitToRoom"
    assert checks[-1].detail["permitted"] is True

    # Revoked from another session, as the patient's own page would: this session already holds the
    # consent in memory and must still see the revocation.
    async with async_sessionmaker(engine, expire_on_commit=False)() as other:
        fresh = await other.get(type(signed), signed.id)
        loss = await consent.revoke(other, caller.actor, fresh, RevocationIn(revoked_by="patient"), settings)
        await other.commit()
    with pytest.raises(consent.ConsentMissing) as refused:
        await rooms.check_admission(session, caller.actor, ticket, therapist, ticket.starts_at)
    assert "Theo Therapist is not covered for joint sessions" in refused.value.message
    assert refused.value.status_code == 403
    assert (await committed_actions(engine, "room.refused"))[-1].detail["reason"] == "ConsentMissing"
    # Scheduling took them out of the meeting too, so they cannot even find it now.
    with pytest.raises(NotFound):
        await rooms.entrant_for_clinician(session, caller, ticket)
    assert (clinic.patient.id, clinic.therapist.id, Purpose.JOINT_SESSION) in rooms.removals_for(loss)
    assert all(purpose is not Purpose.SHARE_MINUTES for _, _, purpose in rooms.removals_for(loss))


async def test_admission_refuses_outside_the_window_and_after_cancellation(session, clinic, settings) -> None:
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    caller = Caller(clinic.therapist)
    therapist = await rooms.entrant_for_clinician(session, caller, ticket)
    with pytest.raises(rooms.RoomNotOpen, match=r"the room closed at \d+:\d\d (AM|PM)"):
        await rooms.check_admission(session, caller.actor, ticket, therapist, ticket.window.closes_at)
    await scheduling.cancel(session, caller, meeting.id, MeetingCancel(meeting.version), settings)
    await session.commit()
    with pytest.raises(rooms.MeetingCancelled):
        await rooms.check_admission(session, caller.actor, ticket, therapist, ticket.starts_at)


async def test_a_patient_is_never_admitted_to_a_case_review(session, clinic, settings, engine) -> None:
    await give_consent(session, clinic)
    review = await book(session, settings, clinic, kind="case_review")
    ticket = await rooms.ticket_for(session, review.id, review.starts_at, settings)
    patient = rooms.Entrant(f"patient:{clinic.patient.id}", None, "Pat Patient", "Patient", False, "patient")
    with pytest.raises(Forbidden) as refused:
        await rooms.check_admission(
            session, Actor(kind="patient", id=clinic.patient.id), ticket, patient, ticket.starts_at
        )
    assert refused.value.message == rooms.WRONG_LINK
    [event] = await committed_actions(engine, "room.refused")
    assert event.patient_id == clinic.patient.id and event.detail["reason"] == "Forbidden"


def test_only_room_purposes_are_removals_and_each_once() -> None:
    patient, lee, park = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    loss = consent.CoverageLoss(
        patient_id=patient,
        consent_id=uuid.uuid4(),
        reason="revoked",
        lost=(
            consent.LostCoverage(lee, "Dr. Lee", Purpose.CASE_REVIEW),
            consent.LostCoverage(lee, "Dr. Lee", Purpose.SHARE_MINUTES),
            consent.LostCoverage(park, "Dr. Park", Purpose.JOINT_SESSION),
            consent.LostCoverage(park, "Dr. Park", Purpose.JOINT_SESSION),
            consent.LostCoverage(park, "Dr. Park", Purpose.RECORDING),
        ),
    )
    assert rooms.removals_for(loss) == [(patient, lee, Purpose.CASE_REVIEW), (patient, park, Purpose.JOINT_SESSION)]


# ---- attendance ---------------------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


async def entrants(session, settings, clinic) -> tuple[rooms.RoomTicket, rooms.Entrant, rooms.Entrant]:  # type: ignore[no-untyped-def]
    await give_consent(session, clinic)
    meeting = await book(session, settings, clinic)
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    therapist = await rooms.entrant_for_clinician(session, Caller(clinic.therapist), ticket)
    patient = await rooms.entrant_for_patient(
        session, link_session(settings, meeting, clinic, meeting.starts_at, meeting.ends_at), ticket
    )
    return ticket, therapist, patient


async def test_joining_and_leaving_are_recorded_and_leaving_twice_keeps_the_first(
    session, clinic, settings, engine
) -> None:
    ticket, therapist, patient = await entrants(session, settings, clinic)
    theirs = await rooms.record_join(session, ticket, therapist, T0, client_address="192.0.2.7")
    pats = await rooms.record_join(session, ticket, patient, T0 + minutes(1))
    await rooms.record_leave(session, theirs, T0 + minutes(30), "left")
    await rooms.record_leave(session, theirs, T0 + minutes(40), "disconnected")
    await rooms.touch(session, [pats, theirs], T0 + minutes(35))
    await rooms.touch(session, [pats], T0 + minutes(20))  # late heartbeats never move time back
    await session.commit()

    rows = await rooms.attendance_for(session, ticket.meeting_id, ticket.occurrence_start)
    await session.commit()
    assert [row.id for row in rows] == [theirs, pats]
    mine, pat = rows
    assert (mine.attendee, mine.role, mine.person_id) == ("clinician", "primary_therapist", clinic.therapist.id)
    assert (mine.joined_at, mine.left_at, mine.left_reason) == (T0, T0 + minutes(30), "left")
    assert mine.last_seen_at == T0 + minutes(30)  # closed rows are not touched
    assert (pat.attendee, pat.role, pat.person_id, pat.left_at) == ("patient", "patient", None, None)
    assert pat.last_seen_at == T0 + minutes(35)
    assert pat.occurrence_start == ticket.occurrence_start and pat.patient_id == clinic.patient.id

    joins = await committed_actions(engine, "room.join")
    assert [(e.actor_kind, e.actor_id) for e in joins] == [
        ("person", clinic.therapist.id),
        ("patient", clinic.patient.id),
    ]
    assert joins[0].client_address == "192.0.2.7" and joins[0].patient_id == clinic.patient.id
    [leave] = await committed_actions(engine, "room.leave")
    assert leave.detail["reason"] == "left" and leave.actor_id == clinic.therapist.id
    assert len(await committed_actions(engine, "room.attendance_read")) == 1
    with pytest.raises(NotFound):
        await rooms.record_leave(session, uuid.uuid4(), T0, "left")


async def test_stays_left_open_by_a_stopped_service_end_where_last_seen(session, clinic, settings, engine) -> None:
    ticket, therapist, patient = await entrants(session, settings, clinic)
    theirs = await rooms.record_join(session, ticket, therapist, T0)
    pats = await rooms.record_join(session, ticket, patient, T0)
    await rooms.touch(session, [theirs, pats], T0 + minutes(12))
    await rooms.touch(session, [pats], T0 + minutes(25))
    await session.commit()
    await session.close()

    # The service restarts: a new session knows nothing of the rooms that were live.
    async with async_sessionmaker(engine, expire_on_commit=False)() as restarted:
        # A stay refreshed within the bound may be in a room live on another instance: it stays open.
        assert await rooms.close_abandoned(restarted, T0 + minutes(26)) == 1
        assert await rooms.close_abandoned(restarted, T0 + minutes(26)) == 0
        # Once nobody has refreshed it for longer than the bound, it is closed too.
        assert await rooms.close_abandoned(restarted, T0 + minutes(25) + rooms.ABANDONED_AFTER + minutes(0.1)) == 1
        await restarted.commit()
        rows = {row.id: row for row in await restarted.scalars(select(Attendance))}
    assert (rows[theirs].left_at, rows[theirs].left_reason) == (T0 + minutes(12), "service_restart")
    assert (rows[pats].left_at, rows[pats].left_reason) == (T0 + minutes(25), "service_restart")
    events = await committed_actions(engine, "room.leave")
    assert sorted(e.detail["attendance"] for e in events) == sorted([str(theirs), str(pats)])
    assert {e.actor_kind for e in events} == {"system"}


async def test_only_stays_nobody_refreshes_are_closed_and_never_those_this_instance_holds(
    session, clinic, settings, engine
) -> None:
    ticket, therapist, patient = await entrants(session, settings, clinic)
    now = T0 + minutes(30)
    fresh = await rooms.record_join(session, ticket, therapist, T0)
    await rooms.touch(session, [fresh], now - rooms.TOUCH_EVERY)  # a live room's last refresh
    stale = await rooms.record_join(session, ticket, patient, T0)
    await rooms.touch(session, [stale], now - minutes(5))
    held = await rooms.record_join(session, ticket, therapist, T0)  # late refresh, but this instance holds it
    await rooms.touch(session, [held], now - minutes(5))
    await session.commit()

    assert await rooms.close_abandoned(session, now, keep=[held]) == 1
    await session.commit()
    rows = {row.id: row for row in await session.scalars(select(Attendance).execution_options(populate_existing=True))}
    assert (rows[stale].left_at, rows[stale].left_reason) == (now - minutes(5), "service_restart")
    assert rows[fresh].left_at is None and rows[held].left_at is None
    assert rooms.ABANDONED_AFTER >= 3 * rooms.TOUCH_EVERY
    with pytest.raises(ValueError, match="longer than"):
        await rooms.close_abandoned(session, now, stale_after=rooms.TOUCH_EVERY)


async def test_the_registry_closes_abandoned_stays_at_start_up_and_then_every_minute(
    session, clinic, settings, engine, monkeypatch
) -> None:
    clock = [T0 + minutes(30)]
    monkeypatch.setattr(live_rooms, "utcnow", lambda: clock[0])
    ticket, therapist, patient = await entrants(session, settings, clinic)
    stale = await rooms.record_join(session, ticket, therapist, T0)
    fresh = await rooms.record_join(session, ticket, patient, clock[0] - minutes(1))
    await session.commit()
    registry = live_rooms.RoomRegistry(settings, engine, Channels())

    assert await registry.recover() == 1  # at start-up
    late = await rooms.record_join(session, ticket, therapist, T0)
    await session.commit()
    clock[0] += live_rooms.SWEEP_EVERY / 2
    await registry.tick()  # within the minute: no sweep yet
    assert await open_stays(engine) == {fresh, late}
    clock[0] += live_rooms.SWEEP_EVERY / 2
    await registry.tick()  # a minute on: swept again; the patient's stay is now stale too
    assert await open_stays(engine) == set()
    rows = {row.id: row for row in await session.scalars(select(Attendance).execution_options(populate_existing=True))}
    assert rows[stale].left_at == rows[late].left_at == T0
    assert rows[fresh].left_at == T0 + minutes(29)


async def open_stays(engine) -> set[uuid.UUID]:  # type: ignore[no-untyped-def]
    async with async_sessionmaker(engine)() as fresh:
        return set(await fresh.scalars(select(Attendance.id).where(Attendance.left_at.is_(None))))


async def test_stays_between_two_times_come_with_their_meetings_kind_and_are_not_audited(
    session, clinic, settings, engine
) -> None:
    ticket, therapist, patient = await entrants(session, settings, clinic)
    review = await book(session, settings, clinic, kind="case_review", start=future_start(4))
    review_ticket = await rooms.ticket_for(session, review.id, review.starts_at, settings)
    start, end = T0, T0 + minutes(60)
    before = await rooms.record_join(session, ticket, therapist, start - minutes(10))
    await rooms.record_leave(session, before, start + minutes(1), "left")  # overlaps the start
    ended = await rooms.record_join(session, ticket, therapist, start - minutes(10))
    await rooms.record_leave(session, ended, start, "left")  # ends as the range begins: outside
    open_stay = await rooms.record_join(session, ticket, patient, start - minutes(5))
    await rooms.touch(session, [open_stay], start + minutes(3))  # still open, seen within the range
    stale = await rooms.record_join(session, ticket, patient, start - minutes(9))  # open, last seen before it
    reviewing = await rooms.record_join(session, review_ticket, therapist, end - minutes(1))
    await rooms.record_join(session, review_ticket, therapist, end)  # begins as the range ends: outside
    others = dataclasses.replace(ticket, patient_id=clinic.other_patient.id)
    await rooms.record_join(session, others, patient, start + minutes(1))
    await session.commit()

    found = await rooms.stays_between(session, start, end, patient_ids=[clinic.patient.id])
    assert [(row.id, kind) for row, kind in found] == [
        (before, "joint_session"),
        (open_stay, "joint_session"),
        (reviewing, "case_review"),
    ]
    assert stale not in {row.id for row, _ in found}
    both = await rooms.stays_between(session, start, end, patient_ids=[clinic.patient.id, clinic.other_patient.id])
    assert len(both) == 4
    assert await rooms.stays_between(session, start, end, patient_ids=[]) == []
    # The use case that discloses the stays audits that; the query itself writes nothing.
    await session.commit()
    assert await committed_actions(engine, "room.attendance_read") == []
    with pytest.raises(InvalidInput):
        await rooms.stays_between(session, start.replace(tzinfo=None), end, patient_ids=[clinic.patient.id])


async def test_attendance_of_an_unknown_meeting_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await rooms.attendance_for(session, uuid.uuid4(), T0)
