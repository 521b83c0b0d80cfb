"""Use cases for people, patients and care teams. Every patient read or change is audited."""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from conference.audit import service as audit
from conference.audit.service import Actor
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleEdit, require_version
from conference.people import roles as rules
from conference.people.models import CareTeamMember, Patient, Person, PersonRole
from conference.people.passwords import hash_password
from conference.people.roles import Role, TeamRole
from conference.people.schemas import (
    PatientCreate,
    PatientOut,
    PatientUpdate,
    PersonCreate,
    PersonOut,
    PersonUpdate,
    TeamMemberAdd,
    TeamMemberOut,
)

PATIENT_NOT_FOUND = "No such patient, or you are not on their care team."


@dataclass(frozen=True)
class Caller:
    """A signed-in member of staff making a request."""

    person: Person
    client_address: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(kind="person", id=self.person.id, client_address=self.client_address)

    @property
    def is_admin(self) -> bool:
        return rules.is_admin(self.person.roles)

    @property
    def is_clinician(self) -> bool:
        return rules.is_clinician(self.person.roles)


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("Only a clinic administrator can do this.")


def valid_time_zone(name: str, field: str = "time_zone") -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"{name!r} is not a known time zone; use a name such as America/New_York.") from None
    return name


def normalise_email(email: str) -> str:
    return email.strip().lower()


# ---- people -------------------------------------------------------------------------------------


async def find_person_by_email(session: AsyncSession, email: str) -> Person | None:
    person: Person | None = await session.scalar(select(Person).where(Person.email == normalise_email(email)))
    return person


async def get_person(session: AsyncSession, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("No such person.")
    return person


async def list_people(session: AsyncSession, caller: Caller) -> list[Person]:
    if not (caller.is_admin or caller.is_clinician):
        raise Forbidden("You cannot list staff.")
    return list(await session.scalars(select(Person).order_by(func.lower(Person.name))))


async def create_person(session: AsyncSession, actor: Actor, data: PersonCreate) -> Person:
    email = normalise_email(data.email)
    if await find_person_by_email(session, email):
        raise Conflict(f"Someone already has the email address {email}.", extra={"field": "email"})
    person = Person(
        name=data.name.strip(),
        email=email,
        time_zone=valid_time_zone(data.time_zone),
        password_hash=hash_password(data.password) if data.password else None,
        role_rows=[PersonRole(role=role.value) for role in sorted(set(data.roles))],
    )
    session.add(person)
    await _flush_or_conflict(session, f"Someone already has the email address {email}.")
    await audit.record(session, actor, "person.create", subject=f"person:{person.id}")
    return person


async def update_person(session: AsyncSession, caller: Caller, person_id: uuid.UUID, data: PersonUpdate) -> Person:
    require_admin(caller)
    person = await get_person(session, person_id)
    require_version(person.version, data.version, "person")
    changed: list[str] = []
    if data.name is not None:
        person.name = data.name.strip()
        changed.append("name")
    if data.email is not None and normalise_email(data.email) != person.email:
        person.email = normalise_email(data.email)
        changed.append("email")
    if data.time_zone is not None:
        person.time_zone = valid_time_zone(data.time_zone)
        changed.append("time_zone")
    if data.active is not None:
        if not data.active and person.id == caller.person.id:
            raise InvalidInput("active", "You cannot deactivate your own account.")
        person.active = data.active
        changed.append("active")
    if data.password is not None:
        person.password_hash = hash_password(data.password)
        changed.append("password")
    if data.roles is not None:
        wanted = {role.value for role in data.roles}
        if person.id == caller.person.id and Role.ADMIN.value not in wanted:
            raise InvalidInput("roles", "You cannot remove your own admin role.")
        person.role_rows = [row for row in person.role_rows if row.role in wanted] + [
            PersonRole(role=role) for role in sorted(wanted - {row.role for row in person.role_rows})
        ]
        changed.append("roles")
    await _flush_or_conflict(session, "Someone already has that email address.")
    await audit.record(
        session, caller.actor, "person.update", subject=f"person:{person.id}", detail={"fields": changed}
    )
    return person


def person_out(person: Person) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        email=person.email,
        roles=sorted(person.roles),
        time_zone=person.time_zone,
        active=person.active,
        prescriber=rules.is_prescriber(person.roles),
        version=person.version,
    )


# ---- patients -----------------------------------------------------------------------------------


async def _load_patient(session: AsyncSession, patient_id: uuid.UUID) -> Patient | None:
    return await session.get(Patient, patient_id)


def _on_team(patient: Patient, person: Person) -> bool:
    return any(member.person_id == person.id for member in patient.team)


async def patient_for_clinician(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> Patient:
    """The patient's record, for a member of their care team only. Every look is audited."""
    patient = await _load_patient(session, patient_id)
    if patient is None or not rules.may_view_clinical_record(caller.person.roles, _on_team(patient, caller.person)):
        await _record_denied(session, caller, "patient.read", patient)
        raise NotFound(PATIENT_NOT_FOUND)
    await audit.record(session, caller.actor, "patient.read", patient_id=patient.id, subject=f"patient:{patient.id}")
    return patient


async def patient_for_admin(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> Patient:
    """Demographics and care team, for administering them; no clinical content hangs off this."""
    require_admin(caller)
    patient = await _load_patient(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    await audit.record(
        session,
        caller.actor,
        "patient.read_demographics",
        patient_id=patient.id,
        subject=f"patient:{patient.id}",
    )
    return patient


async def patient_for_self(session: AsyncSession, patient_id: uuid.UUID, client_address: str | None) -> Patient:
    """A patient, signed in through their own link, looking at their own record."""
    patient = await _load_patient(session, patient_id)
    if patient is None or not patient.active:
        raise NotFound("This link is no longer valid. Ask your care team for a new one.")
    actor = Actor(kind="patient", id=patient.id, client_address=client_address)
    await audit.record(session, actor, "patient.read_own", patient_id=patient.id, subject=f"patient:{patient.id}")
    return patient


async def patients_for(session: AsyncSession, caller: Caller, *, administering: bool = False) -> list[Patient]:
    """The caller's own patients; with ``administering``, every patient, for an admin managing teams."""
    query = select(Patient).order_by(func.lower(Patient.name))
    if administering:
        require_admin(caller)
    elif not caller.is_clinician:
        return []
    else:
        query = query.where(
            Patient.id.in_(select(CareTeamMember.patient_id).where(CareTeamMember.person_id == caller.person.id))
        )
    patients = list(await session.scalars(query))
    await audit.record(
        session,
        caller.actor,
        "patient.list_demographics" if administering else "patient.list",
        subject="patients",
        detail={"count": len(patients)},
    )
    return patients


async def create_patient(session: AsyncSession, caller: Caller, data: PatientCreate) -> Patient:
    require_admin(caller)
    values = _patient_values(msgspec.structs.asdict(data))
    patient = Patient(**values)
    session.add(patient)
    await session.flush()
    await audit.record(session, caller.actor, "patient.create", patient_id=patient.id, subject=f"patient:{patient.id}")
    return patient


async def update_patient(session: AsyncSession, caller: Caller, patient_id: uuid.UUID, data: PatientUpdate) -> Patient:
    require_admin(caller)
    patient = await _load_patient(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    require_version(patient.version, data.version, "patient")
    given = {key: value for key, value in msgspec.structs.asdict(data).items() if key not in ("version", "clear")}
    changes = _patient_values({key: value for key, value in given.items() if value is not None})
    changes.update({field: None for field in data.clear if field not in changes})
    if changes.get("active") is False and patient.active:
        changes["treatment_ended_at"] = utcnow()
    for key, value in changes.items():
        setattr(patient, key, value)
    await _flush_or_conflict(session, "This patient was changed by someone else.")
    await audit.record(
        session,
        caller.actor,
        "patient.update",
        patient_id=patient.id,
        subject=f"patient:{patient.id}",
        detail={"fields": sorted(changes)},
    )
    return patient


def _patient_values(values: dict[str, Any]) -> dict[str, Any]:
    if "time_zone" in values:
        values["time_zone"] = valid_time_zone(values["time_zone"])
    for key in ("email", "representative_email"):
        if values.get(key):
            values[key] = normalise_email(values[key])
    if "name" in values:
        values["name"] = values["name"].strip()
    return values


def patient_out(patient: Patient) -> PatientOut:
    return PatientOut(
        id=patient.id,
        name=patient.name,
        date_of_birth=patient.date_of_birth,
        email=patient.email,
        phone=patient.phone,
        preferred_contact=patient.preferred_contact,
        time_zone=patient.time_zone,
        representative_name=patient.representative_name,
        representative_relationship=patient.representative_relationship,
        active=patient.active,
        version=patient.version,
        care_team=[team_member_out(member) for member in sorted_team(patient)],
    )


# ---- care teams ---------------------------------------------------------------------------------


def sorted_team(patient: Patient) -> list[CareTeamMember]:
    order = list(TeamRole)
    return sorted(patient.team, key=lambda member: (order.index(member.role), member.person.name.lower()))


def team_member_out(member: CareTeamMember) -> TeamMemberOut:
    return TeamMemberOut(
        id=member.id,
        person_id=member.person_id,
        name=member.person.name,
        team_role=member.role,
        is_crisis_lead=member.is_crisis_lead,
    )


async def add_team_member(
    session: AsyncSession, caller: Caller, patient_id: uuid.UUID, data: TeamMemberAdd
) -> CareTeamMember:
    require_admin(caller)
    patient = await _load_patient(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    person = await session.get(Person, data.person_id)
    if person is None or not person.active:
        raise InvalidInput("person_id", "Choose an active member of staff.")
    problem = rules.team_role_problem(data.team_role, person.roles, person.name)
    if problem:
        raise InvalidInput("team_role", problem)
    if _on_team(patient, person):
        raise Conflict(f"{person.name} is already on this care team.")
    if data.is_crisis_lead:
        _clear_crisis_lead(patient)
        await session.flush()
    member = CareTeamMember(
        patient=patient, person=person, team_role=data.team_role.value, is_crisis_lead=data.is_crisis_lead
    )
    session.add(member)
    await _flush_or_conflict(session, "The care team was changed by someone else; reload and try again.")
    await audit.record(
        session,
        caller.actor,
        "care_team.add",
        patient_id=patient.id,
        subject=f"person:{person.id}",
        detail={"team_role": data.team_role.value, "crisis_lead": data.is_crisis_lead},
    )
    return member


async def remove_team_member(
    session: AsyncSession, caller: Caller, patient_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    require_admin(caller)
    member = await session.get(CareTeamMember, member_id)
    if member is None or member.patient_id != patient_id:
        raise NotFound("No such care-team member.")
    await session.delete(member)
    await session.flush()
    await audit.record(
        session, caller.actor, "care_team.remove", patient_id=patient_id, subject=f"person:{member.person_id}"
    )


async def set_crisis_lead(session: AsyncSession, caller: Caller, patient_id: uuid.UUID, member_id: uuid.UUID) -> None:
    require_admin(caller)
    patient = await _load_patient(session, patient_id)
    member = await session.get(CareTeamMember, member_id)
    if patient is None or member is None or member.patient_id != patient_id:
        raise NotFound("No such care-team member.")
    _clear_crisis_lead(patient)
    await session.flush()
    member.is_crisis_lead = True
    await _flush_or_conflict(session, "The care team was changed by someone else; reload and try again.")
    await audit.record(
        session,
        caller.actor,
        "care_team.crisis_lead",
        patient_id=patient_id,
        subject=f"person:{member.person_id}",
    )


def _clear_crisis_lead(patient: Patient) -> None:
    for member in patient.team:
        member.is_crisis_lead = False


def crisis_lead(patient: Patient) -> CareTeamMember | None:
    return next((member for member in patient.team if member.is_crisis_lead), None)


# ---- shared -------------------------------------------------------------------------------------


async def _flush_or_conflict(session: AsyncSession, message: str) -> None:
    try:
        await session.flush()
    except StaleDataError:
        raise StaleEdit("This record was changed by someone else at the same moment. Reload and try again.") from None
    except IntegrityError:
        raise Conflict(message) from None


async def _record_denied(session: AsyncSession, caller: Caller, action: str, patient: Patient | None) -> None:
    # Committed now, because the error that follows rolls the request's transaction back.
    await audit.record(
        session,
        caller.actor,
        f"{action}.denied",
        patient_id=patient.id if patient else None,
        subject="patient" if patient else "patient:unknown",
    )
    await session.commit()
