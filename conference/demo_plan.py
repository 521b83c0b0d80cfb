"""The demo's clinical record: a treatment plan in two versions, a case review held last week with
its signed minutes, and the revision those minutes proposed, waiting for the medical director.

Built through the ordinary services (plans, rooms' attendance, minutes, sign-off), as each clinician
would; only the case review's time is moved into the past afterwards, since booking refuses a
meeting that has already started.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference.db import utcnow
from conference.minutes import service as minutes
from conference.people.models import Patient, Person
from conference.people.service import Caller
from conference.plans import service as plans
from conference.plans import signoff
from conference.plans.changes import (
    AddGoal,
    AddIntervention,
    AddMedication,
    AddProblem,
    ChangeCrisisPlan,
    ChangeMedication,
    ChangeReviewCadence,
    NewObjective,
    encode_changes,
)
from conference.plans.models import TreatmentPlan
from conference.rtc import service as rooms
from conference.scheduling import service as scheduling
from conference.scheduling.models import Meeting
from conference.scheduling.schemas import MeetingCreate, ParticipantIn
from conference.settings import Settings

REVIEW_ATTENDEES = ("therapist", "prescriber", "director", "case_manager")


async def ensure_clinical_record(
    session: AsyncSession, staff: dict[str, Person], patient: Patient, settings: Settings
) -> dict[str, str]:
    """Creates the record once; on later runs only reports where it is."""
    therapist = Caller(person=staff["therapist"])
    minutes_id: uuid.UUID | None
    revision_id: uuid.UUID | None
    plan = await session.scalar(select(TreatmentPlan).where(TreatmentPlan.patient_id == patient.id))
    if plan is None:
        await _plan_in_two_versions(session, staff, patient, settings)
        review = await _past_case_review(session, staff, patient, settings)
        signed = await _signed_minutes(session, staff, patient, review, settings)
        assert signed.revision_id is not None
        pending = await plans.get_revision(session, therapist, signed.revision_id)
        for key in ("therapist", "prescriber"):
            await signoff.approve(
                session, Caller(person=staff[key]), pending.revision.id, content_hash=pending.revision.content_hash
            )
        minutes_id, revision_id = signed.minutes.id, signed.revision_id
    else:
        view = await plans.get_plan(session, therapist, patient.id)
        waiting = next(iter(view.open_revisions), None)
        revision_id = waiting.id if waiting else None
        minutes_id = waiting.source_minutes_id if waiting else None
    base = settings.public_base_url
    return {
        "plan_url": f"{base}/patients/{patient.id}/plan",
        **({"minutes_url": f"{base}/minutes/{minutes_id}"} if minutes_id else {}),
        **({"pending_revision_url": f"{base}/revisions/{revision_id}"} if revision_id else {}),
    }


async def _plan_in_two_versions(
    session: AsyncSession, staff: dict[str, Person], patient: Patient, settings: Settings
) -> None:
    therapist = Caller(person=staff["therapist"])
    start = utcnow().astimezone(ZoneInfo(patient.time_zone)).date()
    await plans.create_plan(
        session,
        therapist,
        patient.id,
        [
            AddProblem(text="Low mood, poor sleep and withdrawal from friends for three months"),
            AddGoal(
                text="Mood improves enough to return to weekly social activities",
                objectives=[
                    NewObjective(
                        text="Depressive symptoms fall",
                        measure="PHQ-9",
                        target="below 10",
                        due=start + dt.timedelta(days=90),
                    )
                ],
            ),
            AddIntervention(text="Cognitive behavioural therapy", who="primary_therapist", frequency="weekly"),
            AddMedication(name="Sertraline", dose="50 mg once daily", prescriber_id=staff["prescriber"].id),
            ChangeCrisisPlan(
                lead_person_id=staff["therapist"].id,
                patient_calls="The clinic's duty line in office hours; 988 at any other time",
                escalate_when="Any thoughts of self-harm are reported",
            ),
            ChangeReviewCadence(review_every_days=30),
        ],
    )
    await session.flush()
    revision = await plans.propose_revision(
        session,
        therapist,
        patient.id,
        [AddIntervention(text="Behavioural activation homework", who="primary_therapist", frequency="weekly")],
        summary="Add behavioural activation between sessions",
        settings=settings,
    )
    await signoff.approve(session, therapist, revision.id, content_hash=revision.content_hash)


async def _past_case_review(
    session: AsyncSession, staff: dict[str, Person], patient: Patient, settings: Settings
) -> Meeting:
    therapist = Caller(person=staff["therapist"])
    booked = await scheduling.create(
        session,
        therapist,
        MeetingCreate(
            kind="case_review",
            patient_id=patient.id,
            start=utcnow().replace(second=0, microsecond=0) + dt.timedelta(days=30),
            duration_minutes=45,
            participants=[ParticipantIn(staff[key].id) for key in REVIEW_ATTENDEES if key != "therapist"],
            override_reason="Demo clinic: last week's case review",
        ),
        settings,
    )
    zone = ZoneInfo(therapist.person.time_zone)
    held_on = utcnow().astimezone(zone).date() - dt.timedelta(days=7)
    starts = dt.datetime.combine(held_on, dt.time(13), zone).astimezone(dt.UTC)
    booked.starts_at, booked.ends_at, booked.series_ends_at = starts, starts + dt.timedelta(minutes=45), starts
    await session.flush()
    ticket = await rooms.ticket_for(session, booked.id, starts, settings)
    for offset, key in enumerate(REVIEW_ATTENDEES):
        caller = Caller(person=staff[key])
        entrant = await rooms.entrant_for_clinician(session, caller, ticket)
        stay = await rooms.record_join(session, ticket, entrant, starts + dt.timedelta(minutes=1 + offset))
        await rooms.record_leave(session, stay, starts + dt.timedelta(minutes=42), "left")
    return booked


async def _signed_minutes(
    session: AsyncSession, staff: dict[str, Person], patient: Patient, review: Meeting, settings: Settings
) -> minutes.Finalized:
    therapist = Caller(person=staff["therapist"])
    draft = await minutes.open_minutes(session, therapist, review.id, review.starts_at)
    plan = await plans.get_plan(session, therapist, patient.id)
    medication = plan.content.medications[0]
    held_on = review.starts_at.astimezone(ZoneInfo(therapist.person.time_zone)).date()
    content = {
        **draft.content,
        "agenda_items": [
            {
                "title": "Response to treatment",
                "discussion": "Partial response after eight weeks; sleep better, mood still low in the mornings.",
            }
        ],
        "measures": [
            {"instrument": "phq9", "score": 14, "administered_on": held_on.isoformat()},
            {"instrument": "gad7", "score": 9, "administered_on": held_on.isoformat()},
        ],
        "decisions": ["Increase sertraline; add a safety check-in call between sessions."],
        "action_items": [
            {
                "text": "Call the patient on Thursday to check how the new dose is tolerated",
                "owner_id": str(staff["case_manager"].id),
                "due_on": (held_on + dt.timedelta(days=3)).isoformat(),
            }
        ],
        "risk_flags": [{"kind": "suicide_risk", "level": "moderate", "note": "Passive thoughts, no plan or intent."}],
        "proposed_changes": encode_changes(
            [
                ChangeMedication(
                    id=medication.id,
                    name=medication.name,
                    dose="100 mg once daily",
                    prescriber_id=staff["prescriber"].id,
                    reason="Partial response at 50 mg",
                ),
                ChangeCrisisPlan(
                    lead_person_id=staff["therapist"].id,
                    patient_calls="The clinic's duty line in office hours; 988 at any other time",
                    escalate_when="Any thoughts of self-harm, or a missed check-in call",
                    high_risk=True,
                    reason="Passive suicidal thoughts reported",
                ),
            ]
        ),
        "next_review_on": (held_on + dt.timedelta(days=28)).isoformat(),
    }
    saved = await minutes.save_draft(session, therapist, draft.id, content, draft.version)
    return await minutes.finalize(session, therapist, saved.id, saved.version, settings=settings)
