"""A small clinic built through the real services, and helpers for signing in over HTTP."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit.service import Actor
from conference.people import service
from conference.people.models import Patient, Person
from conference.people.roles import Role, TeamRole
from conference.people.schemas import PatientCreate, PersonCreate, TeamMemberAdd

PASSWORD = "correct horse battery staple"


@dataclass
class Clinic:
    admin: Person
    therapist: Person
    prescriber: Person
    outsider: Person
    patient: Patient
    other_patient: Patient


async def build_clinic(session: AsyncSession) -> Clinic:
    system = Actor.system()

    async def person(name: str, email: str, *roles: Role) -> Person:
        return await service.create_person(
            session,
            system,
            PersonCreate(name=name, email=email, roles=list(roles), time_zone="America/New_York", password=PASSWORD),
        )

    admin = await person("Ada Admin", "admin@clinic.test", Role.ADMIN)
    therapist = await person("Theo Therapist", "theo@clinic.test", Role.THERAPIST)
    prescriber = await person("Priya Prescriber", "priya@clinic.test", Role.PSYCHIATRIST)
    outsider = await person("Oscar Outsider", "oscar@clinic.test", Role.COUNSELOR)
    caller = service.Caller(person=admin)
    patient = await service.create_patient(
        session,
        caller,
        PatientCreate(name="Pat Patient", date_of_birth=dt.date(1990, 1, 2), email="pat@example.test"),
    )
    other = await service.create_patient(
        session, caller, PatientCreate(name="Quinn Other", date_of_birth=dt.date(1985, 5, 6))
    )
    await session.refresh(patient, ["team"])
    await service.add_team_member(
        session,
        caller,
        patient.id,
        TeamMemberAdd(person_id=therapist.id, team_role=TeamRole.PRIMARY_THERAPIST, is_crisis_lead=True),
    )
    await service.add_team_member(
        session, caller, patient.id, TeamMemberAdd(person_id=prescriber.id, team_role=TeamRole.PRESCRIBER)
    )
    await session.refresh(other, ["team"])
    await service.add_team_member(
        session, caller, other.id, TeamMemberAdd(person_id=outsider.id, team_role=TeamRole.PRIMARY_THERAPIST)
    )
    await session.commit()
    return Clinic(admin, therapist, prescriber, outsider, patient, other)


async def csrf_token(client: AsyncTestClient[Litestar]) -> str:
    if "conference_csrf" not in client.cookies:
        await client.get("/sign-in")
    return str(client.cookies["conference_csrf"])


async def sign_in(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> None:
    response = await post_form(client, "/sign-in", {"email": email, "password": password})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


async def post_form(client: AsyncTestClient[Litestar], path: str, data: dict[str, str | list[str]]) -> Response:
    """Repeated fields (checkboxes) are given as lists."""
    token = await csrf_token(client)
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)


def api_headers(token: str) -> dict[str, str]:
    return {"x-csrf-token": token}


async def api_sign_in(client: AsyncTestClient[Litestar], email: str) -> dict[str, str]:
    """Sign in and return the headers an API call that changes something needs."""
    await sign_in(client, email)
    return api_headers(await csrf_token(client))
