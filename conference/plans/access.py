"""Who may see a patient's plan; plan rows read fresh (and locked, to change them) and saved.

A plan is for the patient's care team, and for a medical director when the care team has none:
they are the approver of last resort, so they must be able to read what they approve. Everyone
else gets the same 404 as for a patient who does not exist. Every look is audited.

Changes read their rows only after the access check has written its audit event (on PostgreSQL
that takes the audit chain's lock; on SQLite the write lock is taken when the transaction begins),
and with ``populate_existing``, so a use case always decides on rows no one else is changing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from conference.audit import service as audit
from conference.errors import NotFound, StaleEdit
from conference.people import service as people
from conference.people.models import Patient, Person
from conference.people.roles import Role, TeamRole
from conference.people.service import Caller
from conference.plans.changes import Change
from conference.plans.models import PlanRevision, PlanVersion, TreatmentPlan

REVISION_NOT_FOUND = "No such plan revision, or you are not on the patient's care team."


def team_holders(patient: Patient, role: TeamRole) -> list[Person]:
    return [member.person for member in patient.team if member.role is role and member.person.active]


def covering_director(patient: Patient, person: Person) -> bool:
    """A medical director stands in for the care team's when the team has none."""
    return (
        person.active and Role.MEDICAL_DIRECTOR in person.roles and not team_holders(patient, TeamRole.MEDICAL_DIRECTOR)
    )


async def patient_for_plan(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> Patient:
    """The patient, for their care team or a covering medical director; audited either way."""
    patient = await session.get(Patient, patient_id)
    on_team = patient is not None and any(member.person_id == caller.person.id for member in patient.team)
    if patient is not None and not on_team and covering_director(patient, caller.person):
        await audit.record(
            session,
            caller.actor,
            "patient.read",
            patient_id=patient.id,
            subject=f"patient:{patient.id}",
            detail={"as": "covering_medical_director"},
        )
        return patient
    return await people.patient_for_clinician(session, caller, patient_id)


async def revision_for(
    session: AsyncSession, caller: Caller, revision_id: uuid.UUID, *, team_only: bool = False, lock: bool = True
) -> tuple[PlanRevision, Patient]:
    """The revision, freshly read (and locked, to change it), once the caller may see it (audited)."""
    patient_id = await session.scalar(select(PlanRevision.patient_id).where(PlanRevision.id == revision_id))
    if patient_id is None:
        raise NotFound(REVISION_NOT_FOUND)
    try:
        if team_only:
            patient = await people.patient_for_clinician(session, caller, patient_id)
        else:
            patient = await patient_for_plan(session, caller, patient_id)
    except NotFound:
        raise NotFound(REVISION_NOT_FOUND) from None
    query = select(PlanRevision).where(PlanRevision.id == revision_id).execution_options(populate_existing=True)
    revision = await session.scalar(query.with_for_update() if lock else query)
    assert revision is not None  # revisions are never deleted
    return revision, patient


async def locked_plan(session: AsyncSession, plan_id: uuid.UUID) -> TreatmentPlan:
    """The plan row, locked until commit, after this transaction's turn among writers."""
    await audit.queue_writer(session)
    plan = await session.scalar(
        select(TreatmentPlan)
        .where(TreatmentPlan.id == plan_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert plan is not None
    return plan


async def plan_of(session: AsyncSession, patient_id: uuid.UUID) -> TreatmentPlan | None:
    plan: TreatmentPlan | None = await session.scalar(
        select(TreatmentPlan).where(TreatmentPlan.patient_id == patient_id).execution_options(populate_existing=True)
    )
    return plan


async def version_of(session: AsyncSession, plan_id: uuid.UUID, number: int) -> PlanVersion:
    version = await session.scalar(
        select(PlanVersion).where(PlanVersion.plan_id == plan_id, PlanVersion.number == number)
    )
    if version is None:
        raise NotFound(f"This plan has no version {number}.")
    return version


async def names_of(session: AsyncSession, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {person_id for person_id in ids if person_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(wanted)))
    return {person_id: name for person_id, name in rows.tuples()}


# ---- revisions as stored -----------------------------------------------------------------------


def stored_changes(revision: PlanRevision) -> list[Change]:
    return msgspec.convert(revision.changes, list[Change])


async def flush_edit(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise StaleEdit(
            "This revision was changed by someone else at the same moment. Reload it and make your change again."
        ) from None


def closed_message(revision: PlanRevision) -> str:
    match revision.status:
        case "applied":
            return (
                f"This revision was already applied (plan version {revision.applied_version}); nothing signed changes."
            )
        case "withdrawn":
            return "This revision was withdrawn; propose a new one instead."
        case "stale":
            return "This revision is stale: the plan changed since it was written. Its author must rebase it first."
        case "rejected":
            return "This revision was rejected; its author can edit it, which asks for the approvals again."
    return f"This revision is {revision.status} and cannot be changed."
