"""HTML pages: a clinician's patients, a patient's care team, and the admin pages."""

from __future__ import annotations

import uuid
from typing import Any, get_args
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from conference.errors import DomainError
from conference.forms import parse_form
from conference.http import CallerDep, DbSession, recover
from conference.people import service
from conference.people.roles import Role, TeamRole
from conference.people.schemas import (
    ClearablePatientField,
    PatientCreate,
    PatientUpdate,
    PersonCreate,
    PersonUpdate,
    TeamMemberAdd,
)

CONTACT_METHODS = [("email", "Email"), ("phone", "Phone call"), ("text", "Text message")]


def _see_other(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


def _posted(form: Any) -> dict[str, Any]:
    """What was typed, to show again with an error; repeated fields (role checkboxes) keep every value."""
    return {**dict(form), "roles": form.getall("roles", [])}


@get("/", name="home")
async def home(db_session: DbSession, caller: CallerDep) -> Template | Redirect:
    if caller.is_admin and not caller.is_clinician:
        return _see_other("/admin/people")
    patients = await service.patients_for(db_session, caller)
    return Template(
        template_name="people/home.html.j2",
        context={
            "caller": caller,
            "patients": patients,
            "sorted_team": service.sorted_team,
            "crisis_lead": service.crisis_lead,
        },
    )


@get("/patients/{patient_id:uuid}")
async def patient_page(db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]) -> Template:
    from conference.minutes import service as minutes

    patient = await service.patient_for_clinician(db_session, caller, patient_id)
    return Template(
        template_name="people/patient.html.j2",
        context={
            "caller": caller,
            "patient": patient,
            "team": service.sorted_team(patient),
            "crisis_lead": service.crisis_lead(patient),
            "minutes": await minutes.minutes_for_patient(db_session, caller, patient_id),
            "zone": ZoneInfo(caller.person.time_zone),
        },
    )


# ---- admin: people ------------------------------------------------------------------------------


@get("/admin/people")
async def admin_people(db_session: DbSession, caller: CallerDep) -> Template:
    service.require_admin(caller)
    return Template(
        template_name="admin/people.html.j2",
        context={"caller": caller, "people": await service.list_people(db_session, caller)},
    )


def _person_form(
    caller: CallerDep,
    person: Any = None,
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    return Template(
        template_name="admin/person_form.html.j2",
        context={
            "caller": caller,
            "person": person,
            "roles": list(Role),
            "error": error,
            "values": values or {},
        },
        status_code=error.status_code if error else 200,
    )


@get("/admin/people/new")
async def new_person_form(caller: CallerDep) -> Template:
    service.require_admin(caller)
    return _person_form(caller)


@post("/admin/people/new")
async def create_person(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep
) -> Template | Redirect:
    service.require_admin(caller)
    form = await request.form()
    try:
        person = await service.create_person(db_session, caller.actor, parse_form(form, PersonCreate, lists=["roles"]))
    except DomainError as error:
        return _person_form(caller, error=error, values=_posted(form))
    return _see_other(f"/admin/people/{person.id}")


@get("/admin/people/{person_id:uuid}")
async def edit_person_form(db_session: DbSession, caller: CallerDep, person_id: FromPath[uuid.UUID]) -> Template:
    service.require_admin(caller)
    return _person_form(caller, await service.get_person(db_session, person_id))


@post("/admin/people/{person_id:uuid}")
async def update_person(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, person_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    try:
        data = parse_form(form, PersonUpdate, lists=["roles"], extra={"active": form.get("active") == "on"})
        await service.update_person(db_session, caller, person_id, data)
    except DomainError as error:
        await recover(db_session, caller)
        return _person_form(caller, await service.get_person(db_session, person_id), error, _posted(form))
    return _see_other("/admin/people")


# ---- admin: patients and care teams -------------------------------------------------------------


@get("/admin/patients")
async def admin_patients(db_session: DbSession, caller: CallerDep) -> Template:
    service.require_admin(caller)
    return Template(
        template_name="admin/patients.html.j2",
        context={
            "caller": caller,
            "patients": await service.patients_for(db_session, caller, administering=True),
        },
    )


def _patient_form(
    caller: CallerDep,
    *,
    patient: Any = None,
    people: Any = (),
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    return Template(
        template_name="admin/patient_form.html.j2",
        context={
            "caller": caller,
            "patient": patient,
            "team": service.sorted_team(patient) if patient else [],
            "people": people,
            "team_roles": list(TeamRole),
            "contact_methods": CONTACT_METHODS,
            "error": error,
            "values": values or {},
        },
        status_code=error.status_code if error else 200,
    )


@get("/admin/patients/new")
async def new_patient_form(caller: CallerDep) -> Template:
    service.require_admin(caller)
    return _patient_form(caller)


@post("/admin/patients/new")
async def create_patient(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep
) -> Template | Redirect:
    service.require_admin(caller)
    form = await request.form()
    try:
        patient = await service.create_patient(db_session, caller, parse_form(form, PatientCreate))
    except DomainError as error:
        return _patient_form(caller, error=error, values=_posted(form))
    return _see_other(f"/admin/patients/{patient.id}")


async def _patient_admin_page(
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    error: DomainError | None = None,
    values: dict[str, Any] | None = None,
) -> Template:
    patient = await service.patient_for_admin(db_session, caller, patient_id)
    people = [person for person in await service.list_people(db_session, caller) if person.active]
    return _patient_form(caller, patient=patient, people=people, error=error, values=values)


@get("/admin/patients/{patient_id:uuid}")
async def edit_patient_form(db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]) -> Template:
    return await _patient_admin_page(db_session, caller, patient_id)


@post("/admin/patients/{patient_id:uuid}")
async def update_patient(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    try:
        blank = [field for field in get_args(ClearablePatientField) if field in form and not form[field].strip()]
        data = parse_form(form, PatientUpdate, extra={"clear": blank})
        await service.update_patient(db_session, caller, patient_id, data)
    except DomainError as error:
        await recover(db_session, caller)
        return await _patient_admin_page(db_session, caller, patient_id, error, _posted(form))
    return _see_other(f"/admin/patients/{patient_id}")


@post("/admin/patients/{patient_id:uuid}/team")
async def add_team_member(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    try:
        data = parse_form(form, TeamMemberAdd, extra={"is_crisis_lead": form.get("is_crisis_lead") == "on"})
        await service.add_team_member(db_session, caller, patient_id, data)
    except DomainError as error:
        await recover(db_session, caller)
        return await _patient_admin_page(db_session, caller, patient_id, error)
    return _see_other(f"/admin/patients/{patient_id}")


@post("/admin/patients/{patient_id:uuid}/team/{member_id:uuid}/remove")
async def remove_team_member(
    db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], member_id: FromPath[uuid.UUID]
) -> Redirect:
    await service.remove_team_member(db_session, caller, patient_id, member_id)
    return _see_other(f"/admin/patients/{patient_id}")


@post("/admin/patients/{patient_id:uuid}/team/{member_id:uuid}/crisis-lead")
async def make_crisis_lead(
    db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], member_id: FromPath[uuid.UUID]
) -> Redirect:
    await service.set_crisis_lead(db_session, caller, patient_id, member_id)
    return _see_other(f"/admin/patients/{patient_id}")


route_handlers = [
    home,
    patient_page,
    admin_people,
    new_person_form,
    create_person,
    edit_person_form,
    update_person,
    admin_patients,
    new_patient_form,
    create_patient,
    edit_patient_form,
    update_patient,
    add_team_member,
    remove_team_member,
    make_crisis_lead,
]
