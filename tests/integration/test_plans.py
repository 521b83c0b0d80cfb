"""Treatment plans on SQLite and PostgreSQL: revisions, approvals, applying, racing, the API."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from email import message_from_string
from email.message import Message
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conference.audit import service as audit
from conference.audit.models import AuditEvent
from conference.audit.service import Actor
from conference.db import create_engine
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleEdit
from conference.mail import OutboundEmail
from conference.people import service as people
from conference.people.models import Patient, Person
from conference.people.roles import Role, TeamRole
from conference.people.schemas import PersonCreate, TeamMemberAdd
from conference.people.service import Caller
from conference.plans import approvers, service, signoff
from conference.plans.changes import Change, decode_changes
from conference.plans.content import decode_content
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval, TreatmentPlan
from conference.settings import Settings
from tests.support.clinic import PASSWORD, Clinic, api_sign_in

ADD_SERTRALINE = {"op": "add_medication", "name": "Sertraline", "dose": "50 mg daily"}
ADD_SLEEP_GOAL = {"op": "add_goal", "text": "Sleep through the night"}
ADD_CBT = {"op": "add_intervention", "text": "CBT", "who": "primary_therapist", "frequency": "weekly"}


@dataclass
class Team:
    clinic: Clinic
    director: Person
    case_manager: Person

    @property
    def therapist(self) -> Caller:
        return Caller(self.clinic.therapist)

    @property
    def prescriber(self) -> Caller:
        return Caller(self.clinic.prescriber)

    @property
    def medical_director(self) -> Caller:
        return Caller(self.director)


async def _person(session: AsyncSession, name: str, email: str, role: Role) -> Person:
    data = PersonCreate(name=name, email=email, roles=[role], time_zone="America/New_York", password=PASSWORD)
    return await people.create_person(session, Actor.system(), data)


@pytest.fixture
async def team(session: AsyncSession, clinic: Clinic) -> Team:
    """The clinic's patient with a medical director and a case manager on the care team too."""
    director = await _person(session, "Mara Director", "mara@clinic.test", Role.MEDICAL_DIRECTOR)
    case_manager = await _person(session, "Cass Manager", "cass@clinic.test", Role.CASE_MANAGER)
    admin = Caller(clinic.admin)
    for person, role in ((director, TeamRole.MEDICAL_DIRECTOR), (case_manager, TeamRole.CASE_MANAGER)):
        await people.add_team_member(
            session, admin, clinic.patient.id, TeamMemberAdd(person_id=person.id, team_role=role)
        )
    await session.commit()
    return Team(clinic, director, case_manager)


def changes(*raw: dict[str, Any]) -> list[Change]:
    return decode_changes(list(raw))


async def propose(session: AsyncSession, team: Team, settings: Settings, *raw: dict[str, Any]) -> PlanRevision:
    revision = await service.propose_revision(
        session,
        team.therapist,
        team.clinic.patient.id,
        changes(*raw),
        summary="After the case review",
        settings=settings,
    )
    await session.commit()
    return revision


async def approve(session: AsyncSession, caller: Caller, revision: PlanRevision) -> PlanRevision:
    approved = await signoff.approve(session, caller, revision.id, content_hash=revision.content_hash)
    await session.commit()
    return approved


async def actions(session: AsyncSession, patient_id: uuid.UUID) -> list[str]:
    return [event.action for event in reversed(await audit.events_for_patient(session, patient_id))]


async def outbox(session: AsyncSession) -> list[Message]:
    rows = await session.scalars(select(OutboundEmail).order_by(OutboundEmail.created_at))
    return [message_from_string(row.message) for row in rows]


# ---- the whole way through ----------------------------------------------------------------------


async def test_a_high_risk_medication_change_is_applied_when_all_three_have_approved(session, team, settings) -> None:
    patient_id = team.clinic.patient.id
    revision = await propose(session, team, settings, {**ADD_SERTRALINE, "high_risk": True, "reason": "low mood"})
    assert revision.status == "pending" and revision.base_version == 1
    assert [item.approver for item in approvers.stored_requirements(revision)] == [
        TeamRole.PRESCRIBER,
        TeamRole.MEDICAL_DIRECTOR,
        TeamRole.PRIMARY_THERAPIST,
    ]
    before = await service.get_plan(session, team.therapist, patient_id)
    assert before.plan is not None and before.plan.current_version_number == 1
    assert before.content.medications == []
    assert [open_.id for open_ in before.open_revisions] == [revision.id]

    for caller in (team.therapist, team.prescriber):
        assert (await approve(session, caller, revision)).status == "pending"
    assert (await approve(session, team.medical_director, revision)).status == "applied"

    after = await service.get_plan(session, Caller(team.case_manager), patient_id)
    assert after.plan is not None and after.plan.current_version_number == 2
    assert [(item.id, item.name, item.dose) for item in after.content.medications] == [
        ("m1", "Sertraline", "50 mg daily")
    ]
    assert after.current is not None
    assert (after.current.replaces_number, after.current.revision_id) == (1, revision.id)
    assert after.current.created_by_id == team.clinic.therapist.id
    assert [version.number for version in after.versions] == [2, 1]
    assert after.open_revisions == []
    view = await service.get_revision(session, team.therapist, revision.id)
    assert view.revision.applied_version == 2
    assert {state.status for state in view.requirements} == {"approved"}
    assert all(approval.content_hash == revision.content_hash for approval in view.approvals)
    trail = await actions(session, patient_id)
    assert trail.count("plan.approved") == 3
    assert trail.index("plan.revision_proposed") < trail.index("plan.approved") < trail.index("plan.revision_applied")
    assert "plan.read" in trail
    assert (await audit.verify(session)).broken is None


async def test_the_approver_email_names_neither_patient_nor_change(session, team, settings) -> None:
    await propose(session, team, settings, {**ADD_SERTRALINE, "high_risk": True})
    messages = await outbox(session)
    assert sorted(str(message["To"]) for message in messages) == [
        "Mara Director <mara@clinic.test>",
        "Priya Prescriber <priya@clinic.test>",
    ]  # the therapist wrote it, and is not told about their own proposal
    for message in messages:
        assert message["Subject"] == "A treatment plan change is waiting for your approval"
        text = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert f"{settings.public_base_url}/approvals" in text
        for secret in ("Pat Patient", "Pat", "Sertraline", "50 mg", "medication", "high-risk"):
            assert secret not in text and secret not in str(message["Subject"])


async def test_the_api_takes_a_revision_from_proposal_to_a_new_version(client, session, team) -> None:
    patient_id = team.clinic.patient.id
    headers = await api_sign_in(client, "theo@clinic.test")
    proposed = await client.post(
        f"/api/v1/patients/{patient_id}/plan/revisions",
        json={"changes": [ADD_SERTRALINE, ADD_SLEEP_GOAL], "summary": "Start an antidepressant"},
        headers=headers,
    )
    assert proposed.status_code == 201, proposed.text
    body = proposed.json()
    assert body["status"] == "pending" and body["base_version"] == 1
    assert [line["after"] for line in body["diff"]] == ["Sertraline 50 mg daily", "Sleep through the night"]
    assert [(item["approver"], item["why"]) for item in body["requirements"]] == [
        ("prescriber", "a medication change"),
        ("primary_therapist", "every revision"),
    ]
    assert body["requirements"][0]["can_be_given_by"] == ["Priya Prescriber"]
    assert body["can_approve_as"] == ["primary_therapist"]
    revision_id = body["id"]
    decided = await client.post(
        f"/api/v1/revisions/{revision_id}/approvals",
        json={"decision": "approved", "content_hash": body["content_hash"]},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["can_approve_as"] == []
    await client.post("/sign-out", headers=headers)

    headers = await api_sign_in(client, "priya@clinic.test")
    queue = (await client.get("/api/v1/approvals")).json()
    assert [(item["revision_id"], item["required_as"], item["why"]) for item in queue] == [
        (revision_id, ["prescriber"], "a medication change")
    ]
    assert queue[0]["patient_name"] == "Pat Patient"
    assert queue[0]["diff"][0]["section"] == "Medication"
    decided = await client.post(
        f"/api/v1/revisions/{revision_id}/approvals",
        json={"decision": "approved", "content_hash": queue[0]["content_hash"]},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "applied" and decided.json()["applied_version"] == 2
    assert (await client.get("/api/v1/approvals")).json() == []

    plan = (await client.get(f"/api/v1/patients/{patient_id}/plan")).json()
    assert plan["current_version"] == 2
    assert [item["name"] for item in plan["version"]["content"]["medications"]] == ["Sertraline"]
    assert [version["number"] for version in plan["versions"]] == [2, 1]
    first = (await client.get(f"/api/v1/patients/{patient_id}/plan/versions/1")).json()
    assert first["content"]["medications"] == []

    fhir = await client.get(f"/api/v1/patients/{patient_id}/plan/versions/2/fhir")
    assert fhir.status_code == 200 and fhir.headers["content-type"].startswith("application/fhir+json")
    care_plan = CarePlan.model_validate(fhir.json())
    old = CarePlan.model_validate((await client.get(f"/api/v1/patients/{patient_id}/plan/versions/1/fhir")).json())
    assert care_plan.replaces is not None and care_plan.replaces[0].reference == f"CarePlan/{old.id}"
    assert (care_plan.status, old.status) == ("active", "revoked")
    provenance = await client.get(f"/api/v1/revisions/{revision_id}/approvals/fhir")
    signed = Bundle.model_validate(provenance.json())
    assert signed.entry is not None and len(signed.entry) == 2
    assert {entry["resource"]["target"][0]["reference"] for entry in provenance.json()["entry"]} == {
        f"CarePlan/{care_plan.id}"
    }


async def test_the_api_starts_a_plan_and_edits_rebases_withdraws_and_applies_revisions(client, team) -> None:
    patient_id = team.clinic.patient.id
    headers = await api_sign_in(client, "theo@clinic.test")
    created = await client.post(
        f"/api/v1/patients/{patient_id}/plan", json={"changes": [ADD_SLEEP_GOAL]}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["current_version"] == 1
    assert created.json()["version"]["content"]["goals"][0]["id"] == "g1"

    async def revise(*raw: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(
            f"/api/v1/patients/{patient_id}/plan/revisions",
            json={"changes": list(raw), "summary": "s"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    first, second = await revise(ADD_CBT), await revise({"op": "change_goal", "id": "g1", "text": "Sleep well"})
    edited = await client.put(
        f"/api/v1/revisions/{first['id']}",
        json={"version": first["version"], "changes": [ADD_CBT, ADD_SERTRALINE], "summary": "More"},
        headers=headers,
    )
    assert edited.status_code == 200 and edited.json()["summary"] == "More"
    stale_edit = await client.put(
        f"/api/v1/revisions/{first['id']}",
        json={"version": first["version"], "changes": [ADD_CBT], "summary": "Less"},
        headers=headers,
    )
    assert stale_edit.status_code == 409 and "Reload it" in stale_edit.json()["detail"]
    withdrawn = await client.post(
        f"/api/v1/revisions/{first['id']}/withdrawal", json={"version": edited.json()["version"]}, headers=headers
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"

    waiting = await client.post(f"/api/v1/revisions/{second['id']}/apply", headers=headers)
    assert waiting.status_code == 409
    assert waiting.json()["detail"] == (
        "This revision still waits for approval from the primary therapist (Theo Therapist), for every revision."
    )
    third = await revise(ADD_CBT)
    decided = await client.post(
        f"/api/v1/revisions/{second['id']}/approvals",
        json={"decision": "approved", "content_hash": second["content_hash"]},
        headers=headers,
    )
    assert decided.json()["status"] == "applied"
    again = await client.post(f"/api/v1/revisions/{second['id']}/apply", headers=headers)
    assert again.status_code == 409 and "already applied (plan version 2)" in again.json()["detail"]
    overtaken = (await client.get(f"/api/v1/revisions/{third['id']}")).json()
    assert overtaken["status"] == "stale" and overtaken["current_version"] == 2
    rebased = await client.post(
        f"/api/v1/revisions/{third['id']}/rebase", json={"version": overtaken["version"]}, headers=headers
    )
    assert rebased.status_code == 200, rebased.text
    assert (rebased.json()["status"], rebased.json()["base_version"]) == ("pending", 2)
    assert rebased.json()["diff"][0]["after"] == "CBT: primary therapist, weekly"


# ---- bad input ----------------------------------------------------------------------------------


async def test_a_medication_change_without_a_dose_is_refused_with_what_to_do(client, team) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await client.post(
        f"/api/v1/patients/{team.clinic.patient.id}/plan/revisions",
        json={"changes": [ADD_SLEEP_GOAL, {"op": "add_medication", "name": "Sertraline", "dose": ""}], "summary": "x"},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "Change 2: a new medication needs a dose, e.g. '50 mg daily'."
    assert response.json()["field"] == "changes[1].dose"
    plan = (await client.get(f"/api/v1/patients/{team.clinic.patient.id}/plan")).json()
    assert plan["open_revisions"] == []


async def test_approval_mistakes_answer_with_what_to_do_and_change_nothing(client, session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    path = f"/api/v1/revisions/{revision.id}/approvals"
    good = {"decision": "approved", "content_hash": revision.content_hash}

    headers = await api_sign_in(client, "cass@clinic.test")  # on the care team, but no rule asks her
    response = await client.post(path, json=good, headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Your approval is not one this revision needs. It needs: the prescriber (Priya Prescriber), for a "
        "medication change; the primary therapist (Theo Therapist), for every revision."
    )
    await client.post("/sign-out", headers=headers)

    headers = await api_sign_in(client, "oscar@clinic.test")  # not on this patient's care team at all
    assert (await client.post(path, json=good, headers=headers)).status_code == 404
    await client.post("/sign-out", headers=headers)

    headers = await api_sign_in(client, "priya@clinic.test")
    changed = await client.post(path, json={**good, "content_hash": "0" * 64}, headers=headers)
    assert changed.status_code == 409
    assert changed.json()["detail"] == "The revision changed since you opened it; review it again before you decide."
    no_reason = await client.post(path, json={**good, "decision": "rejected"}, headers=headers)
    assert no_reason.status_code == 400 and "Say why you reject" in no_reason.json()["detail"]
    assert (await client.post(path, json=good, headers=headers)).status_code == 200
    twice = await client.post(path, json=good, headers=headers)
    assert twice.status_code == 409
    assert twice.json()["detail"] == (
        "You have already decided on this revision as prescriber; nothing more is needed from you."
    )
    view = (await client.get(f"/api/v1/revisions/{revision.id}")).json()
    assert [(item["person_name"], item["decision"]) for item in view["approvals"]] == [("Priya Prescriber", "approved")]
    assert view["status"] == "pending"


async def test_a_rejection_needs_a_reason_and_an_edit_reopens_the_revision(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    with pytest.raises(InvalidInput, match="Say why"):
        await signoff.reject(session, team.prescriber, revision.id, content_hash=revision.content_hash, reason=" ")
    rejected = await signoff.reject(
        session, team.prescriber, revision.id, content_hash=revision.content_hash, reason="Start at 25 mg"
    )
    await session.commit()
    assert rejected.status == "rejected"
    with pytest.raises(Conflict, match="rejected; its author can edit it"):
        await signoff.approve(session, team.therapist, revision.id, content_hash=revision.content_hash)
    edited = await service.edit_revision(
        session,
        team.therapist,
        revision.id,
        changes({**ADD_SERTRALINE, "dose": "25 mg daily"}),
        summary="Start lower",
        version=rejected.version,
        settings=settings,
    )
    await session.commit()
    assert edited.status == "pending"
    view = await service.get_revision(session, team.prescriber, revision.id)
    assert [(a.decision, a.reason, a.voided_reason) for a in view.approvals] == [
        ("rejected", "Start at 25 mg", "the revision was edited")
    ]
    assert view.can_approve_as == [TeamRole.PRESCRIBER]


async def test_editing_voids_approvals_and_asks_for_them_again(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    first_hash, first_version = revision.content_hash, revision.version
    await approve(session, team.prescriber, revision)
    edited = await service.edit_revision(
        session,
        team.therapist,
        revision.id,
        changes({**ADD_SERTRALINE, "dose": "25 mg daily"}, {**ADD_SLEEP_GOAL, "high_risk": True}),
        summary="Lower dose, and a goal",
        version=first_version,
        settings=settings,
    )
    await session.commit()
    assert edited.content_hash != first_hash
    assert [item.approver for item in approvers.stored_requirements(edited)] == [
        TeamRole.PRESCRIBER,
        TeamRole.MEDICAL_DIRECTOR,
        TeamRole.PRIMARY_THERAPIST,
    ]
    signed = (await session.scalars(select(RevisionApproval))).one()
    assert signed.content_hash == first_hash and signed.voided_at is not None  # kept, never rewritten
    with pytest.raises(Conflict, match="changed since you opened it"):
        await signoff.approve(session, team.prescriber, revision.id, content_hash=first_hash)
    with pytest.raises(StaleEdit, match="changed by someone else"):
        await service.edit_revision(
            session,
            team.therapist,
            revision.id,
            changes(ADD_CBT),
            summary="x",
            version=first_version,
            settings=settings,
        )
    prescriber_mail = [m for m in await outbox(session) if "priya@" in str(m["To"])]
    assert len(prescriber_mail) == 2  # told again about the new content
    assert (await approve(session, team.prescriber, edited)).status == "pending"


async def test_an_edit_of_the_summary_alone_keeps_the_approvals(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    await approve(session, team.prescriber, revision)
    await service.edit_revision(
        session,
        team.therapist,
        revision.id,
        changes(ADD_SERTRALINE),
        summary="Clearer words",
        version=revision.version,
        settings=settings,
    )
    await session.commit()
    live = (await session.scalars(select(RevisionApproval).where(RevisionApproval.voided_at.is_(None)))).all()
    assert len(live) == 1
    assert (await approve(session, team.therapist, revision)).status == "applied"


async def test_nothing_signed_can_be_changed_only_voided(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    await approve(session, team.prescriber, revision)
    signed = (await session.scalars(select(RevisionApproval))).one()
    signed.content_hash = "0" * 64
    with pytest.raises(ValueError, match="A signed decision cannot be changed"):
        await session.flush()
    await session.rollback()
    first = (await session.scalars(select(PlanVersion))).one()
    first.content = {}
    with pytest.raises(ValueError, match="Plan version 1 cannot be changed"):
        await session.flush()


# ---- stale revisions and rebasing ---------------------------------------------------------------


async def test_a_revision_overtaken_by_another_is_stale_until_rebased_and_nothing_is_lost(
    session, team, settings
) -> None:
    first = await propose(session, team, settings, ADD_SLEEP_GOAL)
    second = await propose(session, team, settings, ADD_CBT)
    assert (await approve(session, team.therapist, first)).status == "applied"
    await session.refresh(second)
    assert second.status == "stale" and "version 2" in (second.status_reason or "")
    with pytest.raises(Conflict, match="stale"):
        await signoff.approve(session, team.therapist, second.id, content_hash=second.content_hash)
    with pytest.raises(Conflict, match="stale"):
        await signoff.apply_revision(session, team.therapist, second.id)
    queue = await service.approval_queue(session, team.therapist)
    assert queue == []

    stale_hash = second.content_hash
    rebased = await service.rebase_revision(
        session, team.therapist, second.id, version=second.version, settings=settings
    )
    await session.commit()
    assert (rebased.status, rebased.base_version) == ("pending", 2)
    assert rebased.content_hash != stale_hash  # what is signed names the new base
    assert (await approve(session, team.therapist, rebased)).status == "applied"
    plan = await service.get_plan(session, team.therapist, team.clinic.patient.id)
    assert plan.plan is not None and plan.plan.current_version_number == 3
    assert [goal.text for goal in plan.content.goals] == ["Sleep through the night"]
    assert [item.text for item in plan.content.interventions] == ["CBT"]


async def test_a_pending_revision_found_behind_the_plan_is_marked_stale_and_refused(session, team, settings) -> None:
    first = await propose(session, team, settings, ADD_SLEEP_GOAL)
    second = await propose(session, team, settings, ADD_CBT)
    await approve(session, team.therapist, first)
    # As if it had been read in the instant before the other was applied.
    await session.execute(
        PlanRevision.__table__.update().where(PlanRevision.id == second.id).values(status="pending")  # type: ignore[attr-defined]
    )
    await session.commit()
    with pytest.raises(Conflict, match="written against version 1 of the plan, which is now at version 2"):
        await signoff.approve(session, team.therapist, second.id, content_hash=second.content_hash)
    stored = await session.scalar(select(PlanRevision.status).where(PlanRevision.id == second.id))
    assert stored == "stale"


async def test_rebasing_changes_that_no_longer_apply_says_why(session, team, settings) -> None:
    start = await propose(session, team, settings, ADD_SERTRALINE)
    for caller in (team.therapist, team.prescriber):
        await approve(session, caller, start)
    removal = await propose(session, team, settings, {"op": "remove_medication", "id": "m1"})
    dose = await propose(
        session, team, settings, {"op": "change_medication", "id": "m1", "name": "Sertraline", "dose": "100 mg daily"}
    )
    for caller in (team.therapist, team.prescriber):
        await approve(session, caller, removal)
    await session.refresh(dose)
    with pytest.raises(Conflict) as refused:
        await service.rebase_revision(session, team.therapist, dose.id, version=dose.version, settings=settings)
    assert "The changes no longer apply to version 3 of the plan. Change 1: there is no medication m1" in str(
        refused.value.message
    )
    assert refused.value.extra["field"] == "changes[0].id"
    replaced = await service.rebase_revision(
        session,
        team.therapist,
        dose.id,
        version=dose.version,
        changes=changes({**ADD_SERTRALINE, "dose": "100 mg daily"}),
        settings=settings,
    )
    await session.commit()
    assert (replaced.status, replaced.base_version) == ("pending", 3)


async def test_two_approved_revisions_applied_at_once_leave_one_applied_and_one_stale(session, team, settings) -> None:
    first = await propose(session, team, settings, ADD_SLEEP_GOAL, ADD_SERTRALINE)
    second = await propose(session, team, settings, ADD_CBT, {**ADD_SERTRALINE, "name": "Bupropion", "dose": "150 mg"})
    for revision in (first, second):
        await approve(session, team.prescriber, revision)  # all but the last approval each needs
    engines = [create_engine(settings), create_engine(settings)]

    async def last_approval(engine: Any, revision: PlanRevision) -> str:
        async with async_sessionmaker(engine, expire_on_commit=False)() as own:
            therapist = await own.get(Person, team.clinic.therapist.id)
            assert therapist is not None
            try:
                done = await signoff.approve(own, Caller(therapist), revision.id, content_hash=revision.content_hash)
            except Conflict as refused:
                await own.rollback()
                return f"refused: {refused.message}"
            await own.commit()
            return done.status

    try:
        outcomes = await asyncio.gather(last_approval(engines[0], first), last_approval(engines[1], second))
    finally:
        for engine in engines:
            await engine.dispose()
    assert sorted(outcome.split(":")[0] for outcome in outcomes) == ["applied", "refused"]
    assert "rebase" in next(outcome for outcome in outcomes if outcome.startswith("refused"))

    session.expunge_all()
    statuses = {row.id: row.status for row in await session.scalars(select(PlanRevision))}
    winner, loser = (first, second) if statuses[first.id] == "applied" else (second, first)
    assert (statuses[winner.id], statuses[loser.id]) == ("applied", "stale")
    versions = (await session.scalars(select(PlanVersion).order_by(PlanVersion.number))).all()
    assert [(version.number, version.revision_id) for version in versions] == [(1, None), (2, winner.id)]

    # The loser keeps its changes: rebased and approved again, both revisions are in the plan.
    stale = await session.get(PlanRevision, loser.id)
    assert stale is not None and stale.changes == loser.changes
    rebased = await service.rebase_revision(session, team.therapist, loser.id, version=stale.version, settings=settings)
    await session.commit()
    for caller in (team.prescriber, team.therapist):
        await approve(session, caller, rebased)
    plan = await service.get_plan(session, team.therapist, team.clinic.patient.id)
    assert plan.plan is not None and plan.plan.current_version_number == 3
    assert sorted(item.name for item in plan.content.medications) == ["Bupropion", "Sertraline"]
    assert [item.text for item in plan.content.goals] == ["Sleep through the night"]
    assert [item.text for item in plan.content.interventions] == ["CBT"]
    assert (await audit.verify(session)).broken is None


async def test_a_write_onto_a_replaced_base_is_refused_by_the_database_and_marked_stale(
    session, team, settings, engine
) -> None:
    """Behind the locks: a revision read before another was applied cannot fork the plan."""
    first = await propose(session, team, settings, ADD_SLEEP_GOAL)
    second = await propose(session, team, settings, ADD_CBT)
    async with async_sessionmaker(engine, expire_on_commit=False)() as late:
        revision = await late.get(PlanRevision, second.id)
        plan = await late.get(TreatmentPlan, second.plan_id)
        patient = await late.get(Patient, second.patient_id)
        await late.commit()
        assert revision is not None and plan is not None and patient is not None
        assert (await approve(session, team.therapist, first)).status == "applied"
        with pytest.raises(Conflict, match="must rebase it"):
            await signoff._apply(late, team.therapist.actor, revision, plan, patient)
    session.expunge_all()
    statuses = {row.id: row.status for row in await session.scalars(select(PlanRevision))}
    assert statuses == {first.id: "applied", second.id: "stale"}
    assert [version.number for version in await session.scalars(select(PlanVersion))] == [1, 2]


# ---- who sees and who approves ------------------------------------------------------------------


async def test_only_the_care_team_sees_a_plan(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SLEEP_GOAL)
    for outsider in (Caller(team.clinic.outsider), Caller(team.clinic.admin)):
        with pytest.raises(NotFound):
            await service.get_plan(session, outsider, team.clinic.patient.id)
        with pytest.raises(NotFound, match="No such plan revision"):
            await service.get_revision(session, outsider, revision.id)
        with pytest.raises(NotFound):
            await signoff.approve(session, outsider, revision.id, content_hash=revision.content_hash)
        assert await service.approval_queue(session, outsider) == []
    denied = await session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.read.denied"))
    assert len(denied.all()) >= 4


async def test_without_a_medical_director_on_the_team_any_medical_director_covers(session, clinic, settings) -> None:
    outside_director = await _person(session, "Nia Director", "nia@clinic.test", Role.MEDICAL_DIRECTOR)
    await session.commit()
    revision = await service.propose_revision(
        session,
        Caller(clinic.therapist),
        clinic.patient.id,
        changes({"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "any plan or intent"}),
        summary="A crisis plan",
        settings=settings,
    )
    await session.commit()
    director = Caller(outside_director)
    [item] = await service.approval_queue(session, director)
    assert item.revision.id == revision.id and item.why == "a crisis plan change"
    assert item.diff[0].after == "led by nobody named; the patient calls 988; escalate when any plan or intent"
    assert (await approve(session, director, revision)).status == "pending"
    view = await service.get_plan(session, director, clinic.patient.id)
    assert view.patient.id == clinic.patient.id
    covering = await session.scalars(select(AuditEvent).where(AuditEvent.actor_id == outside_director.id))
    assert any(event.detail.get("as") == "covering_medical_director" for event in covering)
    with pytest.raises(NotFound):  # covering is for medical directors only
        await service.get_plan(session, Caller(clinic.outsider), clinic.patient.id)


async def test_the_queue_lists_what_each_approver_can_give_oldest_first(session, team, settings) -> None:
    minutes_id = uuid.uuid4()
    older = await propose(session, team, settings, {**ADD_SLEEP_GOAL, "high_risk": True})
    newer = await service.propose_revision(
        session,
        team.therapist,
        team.clinic.patient.id,
        changes({"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "x"}),
        summary="From the review",
        source_minutes_id=minutes_id,
        settings=settings,
    )
    await session.commit()
    medication = await propose(session, team, settings, ADD_SERTRALINE)
    queue = await service.approval_queue(session, team.medical_director)
    assert [item.revision.id for item in queue] == [older.id, newer.id]
    assert queue[1].revision.source_minutes_id == minutes_id
    assert queue[0].diff[0].high_risk and queue[0].why == "a high-risk change"
    assert [item.revision.id for item in await service.approval_queue(session, team.prescriber)] == [medication.id]
    await approve(session, team.medical_director, older)
    assert [item.revision.id for item in await service.approval_queue(session, team.medical_director)] == [newer.id]
    reads = await session.scalars(select(AuditEvent).where(AuditEvent.action == "plan.approval_queue"))
    assert len(reads.all()) == 3


async def test_a_covering_role_can_be_named_and_someone_else_cannot_be(session, team, settings) -> None:
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    with pytest.raises(Forbidden, match="not one this revision needs"):
        await signoff.approve(
            session,
            team.prescriber,
            revision.id,
            content_hash=revision.content_hash,
            required_as=TeamRole.PRIMARY_THERAPIST,
        )
    done = await signoff.approve(
        session, team.prescriber, revision.id, content_hash=revision.content_hash, required_as=TeamRole.PRESCRIBER
    )
    assert done.status == "pending"


async def test_only_clinicians_on_the_team_can_propose_and_an_author_can_withdraw(session, team, settings) -> None:
    with pytest.raises(NotFound):
        await service.propose_revision(
            session,
            Caller(team.clinic.outsider),
            team.clinic.patient.id,
            changes(ADD_CBT),
            summary="x",
            settings=settings,
        )
    with pytest.raises(InvalidInput, match="Say in a sentence"):
        await service.propose_revision(
            session, team.therapist, team.clinic.patient.id, changes(ADD_CBT), summary="  ", settings=settings
        )
    revision = await propose(session, team, settings, ADD_CBT)
    withdrawn = await service.withdraw_revision(session, team.therapist, revision.id, version=revision.version)
    await session.commit()
    assert withdrawn.status == "withdrawn"
    with pytest.raises(Conflict, match="withdrawn"):
        await signoff.approve(session, team.therapist, revision.id, content_hash=revision.content_hash)


async def test_a_prescriber_and_crisis_lead_must_be_people_who_can_be(session, team, settings) -> None:
    not_a_prescriber = {**ADD_SERTRALINE, "prescriber_id": str(team.case_manager.id)}
    with pytest.raises(InvalidInput, match="the prescriber must be an active psychiatrist") as refused:
        await propose(session, team, settings, not_a_prescriber)
    assert refused.value.field == "changes[0].prescriber_id"
    lead = {
        "op": "change_crisis_plan",
        "lead_person_id": str(team.clinic.outsider.id),
        "patient_calls": "988",
        "escalate_when": "x",
    }
    with pytest.raises(InvalidInput, match="the crisis lead must be on the patient's care team"):
        await propose(session, team, settings, lead)


# ---- a first plan, and the rules ----------------------------------------------------------------


async def test_a_first_plan_is_written_directly_and_only_once(session, team) -> None:
    version = await service.create_plan(
        session, team.therapist, team.clinic.patient.id, changes(ADD_SLEEP_GOAL, ADD_CBT)
    )
    await session.commit()
    assert version.number == 1 and version.replaces_number is None
    assert [goal.id for goal in decode_content(version.content).goals] == ["g1"]
    with pytest.raises(Conflict, match="already has a treatment plan; propose a revision"):
        await service.create_plan(session, team.therapist, team.clinic.patient.id, changes(ADD_CBT))
    assert "plan.create" in await actions(session, team.clinic.patient.id)


async def test_admins_set_the_approval_rules_and_new_revisions_follow_them(client, session, team, settings) -> None:
    earlier = await propose(session, team, settings, ADD_SERTRALINE)
    with pytest.raises(Forbidden):
        await service.approval_rules(session, team.therapist)

    headers = await api_sign_in(client, "admin@clinic.test")
    current = (await client.get("/api/v1/approval-rules")).json()
    assert current["is_default"] is True
    assert [(rule["when"], rule["approver"]) for rule in current["rules"]] == [
        ("medication_change", "prescriber"),
        ("high_risk", "medical_director"),
        ("crisis_plan_change", "medical_director"),
        ("any_revision", "primary_therapist"),
    ]
    wanted = [
        {"when": "any_revision", "approver": "medical_director"},
        {"when": "medication_change", "approver": "prescriber"},
    ]
    missing_any = await client.put(
        "/api/v1/approval-rules",
        json={"version": current["version"], "rules": [{"when": "medication_change", "approver": "prescriber"}]},
        headers=headers,
    )
    assert missing_any.status_code == 400 and "Keep a rule for any_revision" in missing_any.json()["detail"]
    stale = await client.put("/api/v1/approval-rules", json={"version": "0" * 16, "rules": wanted}, headers=headers)
    assert stale.status_code == 409 and "Another administrator changed" in stale.json()["detail"]
    replaced = await client.put(
        "/api/v1/approval-rules", json={"version": current["version"], "rules": wanted}, headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["is_default"] is False
    assert replaced.json()["rules"][0]["description"] == "For every revision: the medical director"
    await client.post("/sign-out", headers=headers)
    headers = await api_sign_in(client, "theo@clinic.test")
    assert (await client.get("/api/v1/approval-rules")).status_code == 403

    later = await propose(session, team, settings, ADD_CBT)
    assert [item.approver for item in approvers.stored_requirements(later)] == [TeamRole.MEDICAL_DIRECTOR]
    await session.refresh(earlier)
    assert [item.approver for item in approvers.stored_requirements(earlier)] == [
        TeamRole.PRESCRIBER,
        TeamRole.PRIMARY_THERAPIST,
    ]  # already out for approval under the old rules
