"""People, patients and care teams over the JSON API and the admin pages; who may see what."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from conference.audit.models import AuditEvent
from tests.support.clinic import api_sign_in, post_form, sign_in


async def test_clinician_reads_own_patient_and_the_read_is_audited(client, clinic, engine) -> None:
    await sign_in(client, "theo@clinic.test")
    page = await client.get(f"/patients/{clinic.patient.id}")
    assert page.status_code == 200
    assert "Pat Patient" in page.text and "Priya Prescriber" in page.text
    async with engine.connect() as connection:
        actions = (
            (
                await connection.execute(
                    select(AuditEvent.action).where(
                        AuditEvent.patient_id == clinic.patient.id, AuditEvent.actor_id == clinic.therapist.id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "patient.read" in actions


async def test_patient_of_another_team_looks_exactly_like_a_missing_one(client, clinic, engine) -> None:
    await sign_in(client, "theo@clinic.test")
    other = await client.get(f"/patients/{clinic.other_patient.id}")
    missing = await client.get(f"/patients/{uuid.uuid4()}")
    assert other.status_code == missing.status_code == 404
    assert "Quinn Other" not in other.text
    api_other = await client.get(f"/api/v1/patients/{clinic.other_patient.id}")
    api_missing = await client.get(f"/api/v1/patients/{uuid.uuid4()}")
    assert api_other.status_code == api_missing.status_code == 404
    assert api_other.json()["detail"] == api_missing.json()["detail"]
    async with engine.connect() as connection:
        denied = (
            (await connection.execute(select(AuditEvent.patient_id).where(AuditEvent.action == "patient.read.denied")))
            .scalars()
            .all()
        )
    assert clinic.other_patient.id in denied


async def test_api_lists_only_the_clinicians_patients(client, clinic) -> None:
    await sign_in(client, "theo@clinic.test")
    response = await client.get("/api/v1/patients")
    assert response.status_code == 200
    assert [patient["name"] for patient in response.json()] == ["Pat Patient"]
    team = {member["name"]: member for member in response.json()[0]["care_team"]}
    assert team["Theo Therapist"]["is_crisis_lead"] is True
    assert team["Priya Prescriber"]["team_role"] == "prescriber"


async def test_api_requires_sign_in(client, clinic) -> None:
    response = await client.get("/api/v1/patients")
    assert response.status_code == 401
    assert response.json()["detail"] == "Please sign in."


async def test_admin_creates_a_person_and_duplicate_email_is_409(client, clinic) -> None:
    headers = await api_sign_in(client, "admin@clinic.test")
    body = {"name": "Casey Case", "email": "Casey@Clinic.test", "roles": ["case_manager"], "time_zone": "Europe/Berlin"}
    created = await client.post("/api/v1/people", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "casey@clinic.test"
    assert created.json()["prescriber"] is False
    again = await client.post("/api/v1/people", json=body, headers=headers)
    assert again.status_code == 409
    assert "casey@clinic.test" in again.json()["detail"]


async def test_bad_person_input_names_the_field(client, clinic) -> None:
    headers = await api_sign_in(client, "admin@clinic.test")
    missing = await client.post(
        "/api/v1/people", json={"email": "x@clinic.test", "roles": ["therapist"]}, headers=headers
    )
    assert missing.status_code == 400
    assert missing.json()["errors"] == [{"field": "name", "message": "Name is required."}]
    bad_role = await client.post(
        "/api/v1/people", json={"name": "X", "email": "x@clinic.test", "roles": ["wizard"]}, headers=headers
    )
    assert bad_role.status_code == 400
    assert bad_role.json()["errors"][0]["field"] == "roles"
    assert "choose one of the listed options" in bad_role.json()["detail"]
    bad_zone = await client.post(
        "/api/v1/people",
        json={"name": "X", "email": "x@clinic.test", "roles": ["therapist"], "time_zone": "Mars/Base"},
        headers=headers,
    )
    assert bad_zone.status_code == 400
    assert bad_zone.json()["field"] == "time_zone"
    not_json = await client.post(
        "/api/v1/people", content=b"{not json", headers={**headers, "content-type": "application/json"}
    )
    assert not_json.status_code == 400


async def test_clinician_cannot_administer(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await client.post(
        "/api/v1/people", json={"name": "X", "email": "x@clinic.test", "roles": ["therapist"]}, headers=headers
    )
    assert response.status_code == 403
    assert "administrator" in response.json()["detail"]


async def test_stale_person_edit_is_409_and_loses_nothing(client, clinic) -> None:
    headers = await api_sign_in(client, "admin@clinic.test")
    url = f"/api/v1/people/{clinic.outsider.id}"
    version = (await client.get(url)).json()["version"]
    first = await client.patch(url, json={"version": version, "name": "Oscar First"}, headers=headers)
    assert first.status_code == 200
    assert first.json()["version"] == version + 1
    second = await client.patch(url, json={"version": version, "name": "Oscar Second"}, headers=headers)
    assert second.status_code == 409
    assert second.json()["current_version"] == version + 1
    assert (await client.get(url)).json()["name"] == "Oscar First"


async def test_stale_patient_edit_is_409(client, clinic) -> None:
    headers = await api_sign_in(client, "admin@clinic.test")
    url = f"/api/v1/patients/{clinic.patient.id}"
    version = (await client.get(url)).json()["version"]
    assert (await client.patch(url, json={"version": version, "phone": "555 0100"}, headers=headers)).status_code == 200
    stale = await client.patch(url, json={"version": version, "phone": "555 0199"}, headers=headers)
    assert stale.status_code == 409
    assert (await client.get(url)).json()["phone"] == "555 0100"


async def test_care_team_roles_are_checked_and_one_crisis_lead_at_a_time(client, clinic) -> None:
    headers = await api_sign_in(client, "admin@clinic.test")
    base = f"/api/v1/patients/{clinic.other_patient.id}/care-team"
    wrong = await client.post(
        base, json={"person_id": str(clinic.therapist.id), "team_role": "prescriber"}, headers=headers
    )
    assert wrong.status_code == 400
    assert "cannot be prescriber" in wrong.json()["detail"]
    admin_on_team = await client.post(
        base, json={"person_id": str(clinic.admin.id), "team_role": "other"}, headers=headers
    )
    assert admin_on_team.status_code == 400
    added = await client.post(
        base,
        json={"person_id": str(clinic.prescriber.id), "team_role": "prescriber", "is_crisis_lead": True},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    duplicate = await client.post(
        base, json={"person_id": str(clinic.prescriber.id), "team_role": "other"}, headers=headers
    )
    assert duplicate.status_code == 409
    outsider_member = next(m for m in (await client.get(base)).json() if m["name"] == "Oscar Outsider")
    moved = await client.put(
        f"/api/v1/patients/{clinic.other_patient.id}/crisis-lead/{outsider_member['id']}", headers=headers
    )
    assert moved.status_code == 204
    leads = [m["name"] for m in (await client.get(base)).json() if m["is_crisis_lead"]]
    assert leads == ["Oscar Outsider"]


async def test_admin_pages_create_person_and_show_field_errors(client, clinic) -> None:
    await sign_in(client, "admin@clinic.test")
    assert (await client.get("/admin/people")).status_code == 200
    bad = await post_form(
        client, "/admin/people/new", {"name": "", "email": "nobody@clinic.test", "roles": ["therapist"]}
    )
    assert bad.status_code == 400
    assert "Name is required" in bad.text
    good = await post_form(
        client,
        "/admin/people/new",
        {"name": "Nia New", "email": "nia@clinic.test", "roles": ["therapist", "peer_specialist"], "time_zone": "UTC"},
    )
    assert good.status_code == 303
    listing = await client.get("/admin/people")
    assert "Nia New" in listing.text


async def test_admin_pages_manage_a_care_team(client, clinic) -> None:
    await sign_in(client, "admin@clinic.test")
    url = f"/admin/patients/{clinic.other_patient.id}"
    added = await post_form(client, f"{url}/team", {"person_id": str(clinic.therapist.id), "team_role": "other"})
    assert added.status_code == 303
    page = await client.get(url)
    assert "Theo Therapist" in page.text


async def test_admin_without_clinical_role_cannot_open_the_clinical_page(client, clinic) -> None:
    await sign_in(client, "admin@clinic.test")
    assert (await client.get(f"/patients/{clinic.patient.id}")).status_code == 404
    home = await client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/admin/people"


async def test_openapi_schema_is_served(client) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/patients" in response.json()["paths"]
