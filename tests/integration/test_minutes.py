"""Minutes on a real database: opened from a meeting, saved as typed, signed, amended, shared by consent."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.composition import Composition
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker

from conference.audit.models import AuditEvent
from conference.audit.service import Actor
from conference.consent import service as consent
from conference.consent.policy import InformationClass, Purpose
from conference.consent.schemas import ConsentTerms, InPersonConsent, ProvisionIn
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleEdit
from conference.minutes import service
from conference.minutes.models import Minutes
from conference.people import service as people
from conference.people.models import Person
from conference.people.roles import Role, TeamRole
from conference.people.schemas import PersonCreate, TeamMemberAdd
from conference.people.service import Caller
from conference.rtc import service as rooms
from conference.scheduling import service as scheduling
from conference.scheduling.models import Meeting
from conference.scheduling.schemas import MeetingCreate, ParticipantIn
from conference.signing import content_hash
from tests.support.clinic import PASSWORD, api_sign_in

UTC = dt.UTC


# ---- a meeting that has started -----------------------------------------------------------------


async def give_consent(session, clinic, purposes=None, classes=("general",)):  # type: ignore[no-untyped-def]
    await session.refresh(clinic.patient, ["team"])
    terms = ConsentTerms(
        provisions=[
            ProvisionIn(
                purposes=list(purposes or (Purpose.JOINT_SESSION, Purpose.CASE_REVIEW)),
                person_ids=[clinic.therapist.id, clinic.prescriber.id],
                classes=list(classes),
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


async def book(session, settings, clinic, kind: str = "case_review") -> Meeting:  # type: ignore[no-untyped-def]
    day = (utcnow() + dt.timedelta(days=3)).date()
    meeting = await scheduling.create(
        session,
        Caller(clinic.therapist),
        MeetingCreate(
            kind=kind,  # type: ignore[arg-type]
            patient_id=clinic.patient.id,
            start=dt.datetime.combine(day, dt.time(15), UTC),
            duration_minutes=60,
            participants=[ParticipantIn(clinic.prescriber.id)],
            time_zone="America/New_York",
        ),
        settings,
    )
    await session.commit()
    return meeting


@pytest.fixture
async def meeting(session, clinic, settings, monkeypatch) -> Meeting:  # type: ignore[no-untyped-def]
    """A case review that started half an hour ago (the minutes' clock is moved to then)."""
    await give_consent(session, clinic)
    booked = await book(session, settings, clinic)
    monkeypatch.setattr(service, "utcnow", lambda: booked.starts_at + dt.timedelta(minutes=30))
    return booked


def complete_content(clinic, **changes: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    content: dict[str, Any] = {
        "attendees": [
            {"name": "Theo Therapist", "person_id": str(clinic.therapist.id), "role": "primary_therapist"},
            {"name": "Priya Prescriber", "person_id": str(clinic.prescriber.id), "role": "prescriber"},
        ],
        "agenda_items": [{"title": "Progress", "discussion": "Better sleep; mood still low."}],
        "decisions": ["Review the medication."],
        "action_items": [{"text": "Check in by phone", "owner_id": str(clinic.therapist.id)}],
    }
    content.update(changes)
    return content


async def actions(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with async_sessionmaker(engine)() as fresh:
        return list(await fresh.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def rolled_back(session, clinic, *rows) -> None:  # type: ignore[no-untyped-def]
    """Undo a refused change, as a request would, and reload what the test goes on using."""
    await session.rollback()
    for row in (clinic.therapist, clinic.prescriber, *rows):
        await session.refresh(row)


async def add_case_manager(session, clinic) -> Person:  # type: ignore[no-untyped-def]
    """A member of the care team who is not in the meeting."""
    person = await people.create_person(
        session,
        Actor.system(),
        PersonCreate(name="Cam Manager", email="cam@clinic.test", roles=[Role.CASE_MANAGER], password=PASSWORD),
    )
    await people.add_team_member(
        session,
        Caller(clinic.admin),
        clinic.patient.id,
        TeamMemberAdd(person_id=person.id, team_role=TeamRole.CASE_MANAGER),
    )
    await session.commit()
    return person


async def finalized(session, clinic, meeting, settings=None, **changes: Any) -> Minutes:  # type: ignore[no-untyped-def]
    caller = Caller(clinic.therapist)
    minutes = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    minutes = await service.save_draft(
        session, caller, minutes.id, complete_content(clinic, **changes), minutes.version
    )
    result = await service.finalize(session, caller, minutes.id, minutes.version, settings=settings)
    await session.commit()
    return result.minutes


# ---- opening ------------------------------------------------------------------------------------


async def test_minutes_cannot_be_opened_before_the_meeting_starts(session, clinic, settings, monkeypatch) -> None:
    await give_consent(session, clinic)
    booked = await book(session, settings, clinic)
    monkeypatch.setattr(service, "utcnow", lambda: booked.starts_at - dt.timedelta(minutes=1))
    with pytest.raises(Conflict) as early:
        await service.open_minutes(session, Caller(clinic.therapist), booked.id, booked.starts_at)
    assert early.value.status_code == 409
    local = booked.starts_at.astimezone(dt.timezone(dt.timedelta(hours=-5)))  # the therapist's zone in winter
    assert early.value.message.startswith("Minutes can be written once the meeting starts, at ")
    assert "(America/New_York)" in early.value.message and "Come back then." in early.value.message
    assert early.value.extra["opens_at"] == booked.starts_at.isoformat()
    assert local.strftime("%A") in early.value.message
    assert (await session.scalars(select(Minutes))).all() == []


async def test_opening_prefills_who_attended_and_opening_again_returns_the_same_minutes(
    session, clinic, settings, meeting, engine
) -> None:
    ticket = await rooms.ticket_for(session, meeting.id, meeting.starts_at, settings)
    therapist = await rooms.entrant_for_clinician(session, Caller(clinic.therapist), ticket)
    prescriber = await rooms.entrant_for_clinician(session, Caller(clinic.prescriber), ticket)
    start = meeting.starts_at
    first = await rooms.record_join(session, ticket, prescriber, start + dt.timedelta(minutes=2))
    await rooms.record_leave(session, first, start + dt.timedelta(minutes=10), "disconnected")
    stay = await rooms.record_join(session, ticket, therapist, start)
    await rooms.record_leave(session, stay, start + dt.timedelta(minutes=25, seconds=40), "left")
    again = await rooms.record_join(session, ticket, prescriber, start + dt.timedelta(minutes=12))
    await rooms.record_leave(session, again, start + dt.timedelta(minutes=20), "left")
    await session.commit()

    minutes = await service.open_minutes(session, Caller(clinic.therapist), meeting.id, meeting.starts_at)
    await session.commit()
    assert minutes.status == "draft" and minutes.document_version == 1 and minutes.version == 1
    assert minutes.patient_id == clinic.patient.id and minutes.author_id == clinic.therapist.id
    assert minutes.content["attendees"] == [
        {"name": "Theo Therapist", "person_id": str(clinic.therapist.id), "patient": False,
         "role": "primary_therapist", "minutes_present": 25},
        {"name": "Priya Prescriber", "person_id": str(clinic.prescriber.id), "patient": False,
         "role": "prescriber", "minutes_present": 16},
    ]  # fmt: skip

    reopened = await service.open_minutes(session, Caller(clinic.prescriber), meeting.id, meeting.starts_at)
    await session.commit()
    assert reopened.id == minutes.id
    opened = await actions(engine, "minutes.opened")
    assert [event.detail["created"] for event in opened] == [True, False]
    assert {event.patient_id for event in opened} == {clinic.patient.id}


async def test_two_clinicians_opening_at_once_get_one_draft(clinic, meeting, engine) -> None:
    factory = async_sessionmaker(engine, expire_on_commit=False)

    async def open_as(person_id: uuid.UUID) -> uuid.UUID:
        async with factory() as own, own.begin():
            person = await own.get(Person, person_id)
            assert person is not None
            return (await service.open_minutes(own, Caller(person), meeting.id, meeting.starts_at)).id

    opened = await asyncio.gather(open_as(clinic.therapist.id), open_as(clinic.prescriber.id))
    assert opened[0] == opened[1]
    async with factory() as fresh:
        assert len((await fresh.scalars(select(Minutes))).all()) == 1


async def test_only_the_meetings_clinicians_write_minutes(session, clinic, meeting) -> None:
    with pytest.raises(NotFound):
        await service.open_minutes(session, Caller(clinic.outsider), meeting.id, meeting.starts_at)
    case_manager = await add_case_manager(session, clinic)
    with pytest.raises(Forbidden) as refused:
        await service.open_minutes(session, Caller(case_manager), meeting.id, meeting.starts_at)
    assert refused.value.message == service.MEETING_CLINICIANS_ONLY
    with pytest.raises(NotFound):
        await service.open_minutes(
            session, Caller(clinic.therapist), meeting.id, meeting.starts_at + dt.timedelta(minutes=1)
        )
    minutes = await service.open_minutes(session, Caller(clinic.therapist), meeting.id, meeting.starts_at)
    await session.commit()
    with pytest.raises(Forbidden):
        await service.save_draft(session, Caller(case_manager), minutes.id, {}, minutes.version)
    with pytest.raises(Forbidden):
        await service.read_minutes(session, Caller(case_manager), minutes.id)
    with pytest.raises(NotFound):
        await service.read_minutes(session, Caller(clinic.outsider), minutes.id)


# ---- drafts -------------------------------------------------------------------------------------


async def test_a_draft_is_saved_as_typed_however_unfinished(session, clinic, meeting, engine) -> None:
    caller = Caller(clinic.therapist)
    minutes = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    unfinished = complete_content(
        clinic,
        action_items=[{"text": "Book labs"}],
        measures=[{"instrument": "phq9", "score": 40}],
        proposed_changes=[{"op": "add_medication", "name": "sertraline"}],
    )
    saved = await service.save_draft(session, caller, minutes.id, unfinished, 1)
    await session.commit()
    assert saved.version == 2 and saved.updated_by_id == clinic.therapist.id
    assert saved.content["proposed_changes"] == [{"op": "add_medication", "name": "sertraline"}]
    assert saved.content["measures"][0]["score"] == 40
    problems = await service.problems_for(session, saved)
    assert [problem.field for problem in problems] == [
        "measures[0].score",
        "measures[0].administered_on",
        "action_items[0].owner_id",
        "proposed_changes[0].dose",
    ]
    assert len(await actions(engine, "minutes.saved")) == 1

    with pytest.raises(InvalidInput) as refused:
        await service.save_draft(session, caller, minutes.id, {"psychotherapy_notes": "Process notes"}, 2)
    assert "Psychotherapy notes have no place in minutes" in refused.value.message
    await rolled_back(session, clinic, minutes)
    reread = await service.read_minutes(session, caller, minutes.id)
    assert reread.minutes.version == 2 and "psychotherapy_notes" not in reread.minutes.content


async def test_two_saves_of_the_same_version_one_wins_and_the_other_sees_both(clinic, meeting, engine) -> None:
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as setup, setup.begin():
        therapist = await setup.get(Person, clinic.therapist.id)
        assert therapist is not None
        minutes = await service.open_minutes(setup, Caller(therapist), meeting.id, meeting.starts_at)
    drafts = {
        clinic.therapist.id: {"decisions": ["Keep the current dose."]},
        clinic.prescriber.id: {"decisions": ["Raise the dose to 100 mg."]},
    }

    async def save_as(person_id: uuid.UUID) -> tuple[uuid.UUID, Minutes | StaleEdit]:
        async with factory() as own:
            try:
                async with own.begin():
                    person = await own.get(Person, person_id)
                    assert person is not None
                    return person_id, await service.save_draft(own, Caller(person), minutes.id, drafts[person_id], 1)
            except StaleEdit as stale:
                return person_id, stale

    results = dict(await asyncio.gather(save_as(clinic.therapist.id), save_as(clinic.prescriber.id)))
    winners = [person for person, result in results.items() if isinstance(result, Minutes)]
    losers = [person for person, result in results.items() if isinstance(result, StaleEdit)]
    assert len(winners) == 1 and len(losers) == 1
    stale = results[losers[0]]
    assert isinstance(stale, StaleEdit) and stale.status_code == 409
    # The loser is shown the server's version beside their own, and who saved it.
    assert stale.extra["current_version"] == 2
    assert stale.extra["content"]["decisions"] == drafts[winners[0]]["decisions"]
    assert stale.extra["updated_by_id"] == str(winners[0])

    # Nothing is lost: the loser reconciles onto the current version and saves.
    merged = {"decisions": drafts[winners[0]]["decisions"] + drafts[losers[0]]["decisions"]}
    async with factory() as own, own.begin():
        person = await own.get(Person, losers[0])
        assert person is not None
        saved = await service.save_draft(own, Caller(person), minutes.id, merged, 2)
        assert saved.version == 3
    async with factory() as fresh:
        stored = await fresh.get(Minutes, minutes.id)
        assert stored is not None and stored.content["decisions"] == merged["decisions"]


# ---- signing ------------------------------------------------------------------------------------


async def test_finalizing_lists_every_problem_and_changes_nothing(session, clinic, meeting) -> None:
    caller = Caller(clinic.therapist)
    minutes = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    content = complete_content(
        clinic,
        action_items=[{"text": "Check in", "owner_id": str(clinic.therapist.id)}, {"text": "Book labs"}],
        measures=[{"instrument": "gad7", "score": 22, "administered_on": "2026-01-01"}],
    )
    minutes = await service.save_draft(session, caller, minutes.id, content, minutes.version)
    await session.commit()
    with pytest.raises(service.IncompleteMinutes) as refused:
        await service.finalize(session, caller, minutes.id, minutes.version)
    assert refused.value.status_code == 400
    assert refused.value.extra["problems"] == [
        {"field": "measures[0].score", "message": "Measure 1: a GAD-7 score is from 0 to 21, not 22; check the score."},
        {"field": "action_items[1].owner_id", "message": "Action item 2 needs an owner: choose who will do it."},
    ]
    await rolled_back(session, clinic, minutes)
    unchanged = await session.get(Minutes, minutes.id, populate_existing=True)
    assert unchanged is not None and unchanged.status == "draft" and unchanged.signed_at is None


async def test_finalized_minutes_are_signed_and_never_change(session, clinic, meeting, engine) -> None:
    caller = Caller(clinic.therapist)
    final = await finalized(session, clinic, meeting)
    signed_hash = final.content_hash
    signed_at = service.utcnow()
    assert final.status == "final" and final.signed_by_id == clinic.therapist.id and final.signed_at == signed_at
    assert final.content_hash == content_hash(service.signed_document(final))
    assert len(final.content_hash or "") == 64
    [event] = await actions(engine, "minutes.finalized")
    assert event.detail["content_hash"] == final.content_hash

    with pytest.raises(Conflict) as after:
        await service.save_draft(session, caller, final.id, {"decisions": ["Changed later"]}, final.version)
    assert after.value.status_code == 409 and after.value.message == service.ALREADY_FINAL
    await rolled_back(session, clinic, final)
    with pytest.raises(Conflict):
        await service.finalize(session, caller, final.id, final.version)
    await rolled_back(session, clinic, final)

    await session.commit()  # nothing of ours stays open while another connection writes

    # The database refuses too, whoever writes to it.
    table = Minutes.__table__
    for statement in (
        update(table).where(table.c.id == final.id).values(content_hash="0" * 64),
        delete(table).where(table.c.id == final.id),
    ):
        with pytest.raises(DBAPIError, match="final minutes never change"):
            async with engine.begin() as connection:
                await connection.execute(statement)
    stored = await session.get(Minutes, final.id, populate_existing=True)
    assert stored is not None and stored.content_hash == signed_hash and stored.status == "final"


async def test_a_stale_finalize_is_refused(session, clinic, meeting) -> None:
    caller = Caller(clinic.therapist)
    minutes = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    await service.save_draft(session, caller, minutes.id, complete_content(clinic), 1)
    await session.commit()
    with pytest.raises(StaleEdit) as stale:
        await service.finalize(session, caller, minutes.id, 1)
    assert stale.value.extra["current_version"] == 2


# ---- amendments ---------------------------------------------------------------------------------


async def test_amendments_form_one_chain_from_the_latest_final_version(session, clinic, meeting, engine) -> None:
    caller = Caller(clinic.therapist)
    draft = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    with pytest.raises(Conflict, match="still a draft"):
        await service.amend(session, caller, draft.id)
    await rolled_back(session, clinic, meeting)
    original = await finalized(session, clinic, meeting)

    amendment = await service.amend(session, Caller(clinic.prescriber), original.id)
    await session.commit()
    assert (amendment.status, amendment.document_version, amendment.amends_id) == ("draft", 2, original.id)
    assert amendment.content == original.content and amendment.author_id == clinic.prescriber.id
    with pytest.raises(Conflict, match="already open") as open_one:
        await service.amend(session, caller, original.id)
    assert open_one.value.extra["minutes_id"] == str(amendment.id)
    await rolled_back(session, clinic, meeting, original, amendment)
    # Opening the occurrence's minutes now leads to the amendment.
    assert (await service.open_minutes(session, caller, meeting.id, meeting.starts_at)).id == amendment.id

    changed = complete_content(clinic, decisions=["Review the medication.", "Add a sleep diary."])
    amendment = await service.save_draft(session, caller, amendment.id, changed, amendment.version)
    signed = (await service.finalize(session, caller, amendment.id, amendment.version)).minutes
    await session.commit()
    assert signed.status == "final" and signed.content_hash != original.content_hash
    with pytest.raises(Conflict, match="amend the latest version"):
        await service.amend(session, caller, original.id)
    await rolled_back(session, clinic, meeting, original, signed)
    third = await service.amend(session, caller, signed.id)
    await session.commit()
    assert (third.document_version, third.amends_id) == (3, signed.id)

    await give_consent(session, clinic, purposes=[Purpose.SHARE_MINUTES])
    shared = await service.read_minutes(session, caller, original.id)
    assert shared.amended_by_id == amendment.id
    listed = await service.minutes_for_meeting(session, caller, meeting.id)
    assert [row.document_version for row in listed] == [3, 2, 1]
    assert [row.id for row in await service.minutes_for_patient(session, caller, clinic.patient.id)] == [
        row.id for row in listed
    ]
    await session.commit()
    assert len(await actions(engine, "minutes.amended")) == 2


async def test_two_amendments_at_once_leave_one(clinic, meeting, session, engine) -> None:
    original = await finalized(session, clinic, meeting)
    factory = async_sessionmaker(engine, expire_on_commit=False)

    async def amend_as(person_id: uuid.UUID) -> Minutes | Conflict:
        async with factory() as own:
            try:
                async with own.begin():
                    person = await own.get(Person, person_id)
                    assert person is not None
                    return await service.amend(own, Caller(person), original.id)
            except Conflict as refused:
                return refused

    results = await asyncio.gather(amend_as(clinic.therapist.id), amend_as(clinic.prescriber.id))
    assert sorted(type(result).__name__ for result in results) == ["Conflict", "Minutes"]


# ---- sharing ------------------------------------------------------------------------------------


async def test_final_minutes_reach_only_whom_the_consent_covers(session, clinic, meeting, engine) -> None:
    final = await finalized(session, clinic, meeting, includes_substance_use=True)
    therapist = Caller(clinic.therapist)

    # The consent covers case reviews, not receiving minutes.
    with pytest.raises(consent.ConsentMissing) as refused:
        await service.read_minutes(session, therapist, final.id)
    assert refused.value.status_code == 403
    assert "Theo Therapist is not covered for receiving meeting minutes" in refused.value.message
    [event] = await actions(engine, "minutes.read_refused")  # kept although the refusal rolls back
    assert event.detail["classes"] == ["general", "substance_use"]

    # Covered for general information only: still refused, for the substance use records.
    await give_consent(session, clinic, purposes=[Purpose.SHARE_MINUTES])
    with pytest.raises(consent.ConsentMissing) as still:
        await service.read_minutes(session, therapist, final.id)
    assert "substance use treatment records (42 CFR Part 2)" in still.value.message

    await give_consent(session, clinic, purposes=[Purpose.SHARE_MINUTES], classes=("general", "substance_use"))
    shared = await service.read_minutes(session, therapist, final.id)
    await session.commit()
    assert shared.classes == {InformationClass.GENERAL, InformationClass.SUBSTANCE_USE}
    assert shared.redisclosure_notice == REDISCLOSURE_NOTICE
    [read] = await actions(engine, "minutes.read")
    assert read.actor_id == clinic.therapist.id and read.detail["status"] == "final"


async def test_drafts_are_for_the_meetings_clinicians_without_asking_consent(session, clinic, meeting) -> None:
    caller = Caller(clinic.prescriber)
    minutes = await service.open_minutes(session, caller, meeting.id, meeting.starts_at)
    minutes = await service.save_draft(
        session, caller, minutes.id, {"risk_flags": [{"kind": "substance_use_relapse", "level": "high"}]}, 1
    )
    shared = await service.read_minutes(session, caller, minutes.id)
    assert shared.minutes.status == "draft"
    assert InformationClass.SUBSTANCE_USE in shared.classes
    assert shared.redisclosure_notice == REDISCLOSURE_NOTICE


# ---- the plan ------------------------------------------------------------------------------------


async def test_finalizing_with_plan_changes_proposes_a_revision(session, clinic, meeting, settings) -> None:
    from conference.plans.models import PlanRevision

    change = {
        "op": "add_medication",
        "name": "sertraline",
        "dose": "50 mg daily",
        "prescriber_id": str(clinic.prescriber.id),
    }
    final = await finalized(session, clinic, meeting, settings, proposed_changes=[change])
    revisions = list(await session.scalars(select(PlanRevision).where(PlanRevision.source_minutes_id == final.id)))
    assert len(revisions) == 1

    # An amendment proposes only what the version it amends did not.
    caller = Caller(clinic.therapist)
    amendment = await service.amend(session, caller, final.id)
    again = await service.finalize(session, caller, amendment.id, amendment.version, settings=settings)
    assert again.revision_id is None
    await session.commit()


# ---- over HTTP -----------------------------------------------------------------------------------


async def test_the_api_opens_saves_reconciles_signs_and_exports(client, session, clinic, meeting) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    occurrence = meeting.starts_at.strftime("%Y%m%dT%H%M%SZ")
    opened = await client.post(f"/api/v1/meetings/{meeting.id}/occurrences/{occurrence}/minutes", headers=headers)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["status"] == "draft" and body["occurrence"] == occurrence and body["version"] == 1
    assert body["problems"] == [{"field": "attendees", "message": "List who attended the meeting."}]
    path = f"/api/v1/minutes/{body['id']}"

    mine = complete_content(clinic, action_items=[{"text": "Book labs"}])
    saved = await client.put(path, json={"version": 1, "content": mine}, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2
    stale = await client.put(path, json={"version": 1, "content": {"decisions": ["Other"]}}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2 and stale.json()["content"]["action_items"][0]["text"] == "Book labs"

    refused = await client.post(f"{path}/finalize", json={"version": 2}, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["problems"] == [
        {"field": "action_items[0].owner_id", "message": "Action item 1 needs an owner: choose who will do it."}
    ]
    malformed = await client.put(path, json={"version": 2, "content": {"measures": "PHQ-9 12"}}, headers=headers)
    assert malformed.status_code == 400 and malformed.json()["detail"] == "Measures: give a list."

    fixed = complete_content(clinic)
    assert (await client.put(path, json={"version": 2, "content": fixed}, headers=headers)).status_code == 200
    signed = await client.post(f"{path}/finalize", json={"version": 3}, headers=headers)
    assert signed.status_code == 200, signed.text
    assert signed.json()["minutes"]["status"] == "final" and signed.json()["revision_id"] is None
    again = await client.put(path, json={"version": 4, "content": fixed}, headers=headers)
    assert again.status_code == 409

    # Reading final minutes asks the consent, which does not yet cover receiving them.
    assert (await client.get(path)).status_code == 403
    await give_consent(session, clinic, purposes=[Purpose.SHARE_MINUTES])
    got = await client.get(path)
    assert got.status_code == 200 and got.json()["redisclosure_notice"] is None
    exported = await client.get(f"{path}/fhir")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/fhir+json")
    Composition.model_validate(exported.json())
    assert exported.json()["attester"][0]["party"]["reference"] == f"Practitioner/{clinic.therapist.id}"

    amended = await client.post(f"{path}/amend", headers=headers)
    assert amended.status_code == 201 and amended.json()["amends_id"] == body["id"]
    listed = await client.get(f"/api/v1/patients/{clinic.patient.id}/minutes")
    assert [item["document_version"] for item in listed.json()] == [2, 1]
    assert "content" not in listed.json()[0]
    assert len((await client.get(f"/api/v1/meetings/{meeting.id}/minutes")).json()) == 2
    missing = await client.post(f"/api/v1/meetings/{meeting.id}/occurrences/yesterday/minutes", headers=headers)
    assert missing.status_code == 404
