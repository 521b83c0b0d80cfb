"""JSON API for people, patients and care teams, under /api/v1."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from conference.http import CallerDep, DbSession
from conference.people import service
from conference.people.models import Patient
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
from conference.people.service import Caller


async def _readable_patient(db_session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> Patient:
    """Clinicians read their own patients; an admin without a clinical role reads demographics only."""
    if caller.is_admin and not caller.is_clinician:
        return await service.patient_for_admin(db_session, caller, patient_id)
    return await service.patient_for_clinician(db_session, caller, patient_id)


class PeopleController(Controller):
    path = "/api/v1/people"
    tags = ["people"]

    @get("/")
    async def list_people(self, db_session: DbSession, caller: CallerDep) -> list[PersonOut]:
        return [service.person_out(person) for person in await service.list_people(db_session, caller)]

    @post("/")
    async def create_person(self, db_session: DbSession, caller: CallerDep, data: JSONBody[PersonCreate]) -> PersonOut:
        service.require_admin(caller)
        return service.person_out(await service.create_person(db_session, caller.actor, data))

    @get("/{person_id:uuid}")
    async def get_person(self, db_session: DbSession, caller: CallerDep, person_id: FromPath[uuid.UUID]) -> PersonOut:
        if not (caller.is_admin or caller.is_clinician):
            service.require_admin(caller)
        return service.person_out(await service.get_person(db_session, person_id))

    @patch("/{person_id:uuid}")
    async def update_person(
        self,
        db_session: DbSession,
        caller: CallerDep,
        person_id: FromPath[uuid.UUID],
        data: JSONBody[PersonUpdate],
    ) -> PersonOut:
        return service.person_out(await service.update_person(db_session, caller, person_id, data))


class PatientsController(Controller):
    path = "/api/v1/patients"
    tags = ["patients"]

    @get("/")
    async def list_patients(self, db_session: DbSession, caller: CallerDep) -> list[PatientOut]:
        return [service.patient_out(patient) for patient in await service.patients_for(db_session, caller)]

    @post("/")
    async def create_patient(
        self, db_session: DbSession, caller: CallerDep, data: JSONBody[PatientCreate]
    ) -> PatientOut:
        return service.patient_out(await service.create_patient(db_session, caller, data))

    @get("/{patient_id:uuid}")
    async def get_patient(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
    ) -> PatientOut:
        return service.patient_out(await _readable_patient(db_session, caller, patient_id))

    @patch("/{patient_id:uuid}")
    async def update_patient(
        self,
        db_session: DbSession,
        caller: CallerDep,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[PatientUpdate],
    ) -> PatientOut:
        return service.patient_out(await service.update_patient(db_session, caller, patient_id, data))

    @get("/{patient_id:uuid}/care-team")
    async def care_team(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
    ) -> list[TeamMemberOut]:
        patient = await _readable_patient(db_session, caller, patient_id)
        return [service.team_member_out(member) for member in service.sorted_team(patient)]

    @post("/{patient_id:uuid}/care-team")
    async def add_member(
        self,
        db_session: DbSession,
        caller: CallerDep,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[TeamMemberAdd],
    ) -> TeamMemberOut:
        return service.team_member_out(await service.add_team_member(db_session, caller, patient_id, data))

    @delete("/{patient_id:uuid}/care-team/{member_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove_member(
        self,
        db_session: DbSession,
        caller: CallerDep,
        patient_id: FromPath[uuid.UUID],
        member_id: FromPath[uuid.UUID],
    ) -> None:
        await service.remove_team_member(db_session, caller, patient_id, member_id)

    @put("/{patient_id:uuid}/crisis-lead/{member_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def set_crisis_lead(
        self,
        db_session: DbSession,
        caller: CallerDep,
        patient_id: FromPath[uuid.UUID],
        member_id: FromPath[uuid.UUID],
    ) -> None:
        await service.set_crisis_lead(db_session, caller, patient_id, member_id)


route_handlers = [PeopleController, PatientsController]
