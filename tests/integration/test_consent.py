"""Consent records, the enforcement service and the consent API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from conference.audit.models import AuditEvent
from conference.consent import service
from conference.consent.models import Consent
from conference.db import utcnow
from conference.people.models import Patient
from tests.support.clinic import api_sign_in


def terms(clinic, *people, purposes=("case_review", "joint_session"), classes=("general",), **extra):  # type: ignore[no-untyped-def]
    chosen = people or (clinic.therapist, clinic.prescriber)
    return {
        "provisions": [
            {"purposes": list(purposes), "person_ids": [str(p.id) for p in chosen], "classes": list(classes)}
        ],
        **extra,
    }


def in_person(clinic, **overrides):  # type: ignore[no-untyped-def]
    body = {
        "terms": terms(clinic),
        "signer_name": "Pat Patient",
        "signed_on": utcnow().date().isoformat(),
        "attest": True,
    }
    body.update(overrides)
    return body


async def _record(client, clinic, headers, **overrides):  # type: ignore[no-untyped-def]
    return await client.post(
        f"/api/v1/patients/{clinic.patient.id}/consents", json=in_person(clinic, **overrides), headers=headers
    )


async def _events(engine, action: str) -> list[AuditEvent]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.mappings())  # type: ignore[arg-type]


async def test_clinician_records_an_in_person_consent(client, clinic, engine) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await _record(client, clinic, headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["signature_method"] == "in_person"
    assert body["attested_by_id"] == str(clinic.therapist.id)
    assert body["provisions"][0]["purposes"] == ["case_review", "joint_session"]
    listed = (await client.get(f"/api/v1/patients/{clinic.patient.id}/consents")).json()
    assert [consent["id"] for consent in listed] == [body["id"]]
    signed = await _events(engine, "consent.sign")
    assert signed and signed[0]["patient_id"] == clinic.patient.id


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"terms": {"provisions": [{"purposes": [], "person_ids": []}]}},
            "provisions[0].purposes",
            "at least one purpose",
        ),
        (
            {"terms": {"provisions": [{"purposes": ["case_review"], "person_ids": []}]}},
            "provisions[0].person_ids",
            "at least one person",
        ),
        ({"terms": {"provisions": []}}, "provisions", "must permit something"),
        ({"attest": False}, "attest", "saw the form signed"),
        ({"signer_kind": "representative"}, "representative_relationship", "related"),
    ],
)
async def test_incomplete_consents_are_refused_naming_the_problem(client, clinic, overrides, field, words) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await _record(client, clinic, headers, **overrides)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]


async def test_a_period_that_ends_before_it_starts_is_refused(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    today = utcnow().date()
    body = terms(
        clinic,
        starts_on=(today + dt.timedelta(days=10)).isoformat(),
        ends_on=(today + dt.timedelta(days=5)).isoformat(),
    )
    response = await _record(client, clinic, headers, terms=body)
    assert response.status_code == 400
    assert response.json()["field"] == "ends_on"
    assert "must end after the day it starts" in response.json()["detail"]


async def test_recipients_must_be_on_the_care_team(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await _record(client, clinic, headers, terms=terms(clinic, clinic.outsider))
    assert response.status_code == 400
    assert "Only members of the patient's care team" in response.json()["detail"]


async def test_psychotherapy_notes_can_never_be_shared(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await _record(client, clinic, headers, terms=terms(clinic, classes=("general", "psychotherapy_notes")))
    assert response.status_code == 400
    assert "Psychotherapy notes can never be shared" in response.json()["detail"]


async def test_signing_the_same_consent_twice_changes_nothing(client, clinic, session) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    assert (await _record(client, clinic, headers)).status_code == 201
    again = await _record(client, clinic, headers)
    assert again.status_code == 409
    assert "already signed" in again.json()["detail"]
    count = await session.scalar(select(func.count()).select_from(Consent))
    await session.rollback()
    assert count == 1


async def test_revocation_reports_lost_coverage_and_is_audited_once(client, clinic, engine) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    consent_id = (await _record(client, clinic, headers)).json()["id"]
    response = await client.post(
        f"/api/v1/consents/{consent_id}/revocation",
        json={"revoked_by": "patient", "method": "by_phone"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["consent"]["status"] == "revoked"
    lost = {(item["name"], item["purpose"]) for item in response.json()["coverage_lost"]}
    assert lost == {(n, p) for n in ("Theo Therapist", "Priya Prescriber") for p in ("case_review", "joint_session")}
    again = await client.post(f"/api/v1/consents/{consent_id}/revocation", json={}, headers=headers)
    assert again.status_code == 409
    assert "already revoked" in again.json()["detail"]
    revoked = await _events(engine, "consent.revoke")
    lost_events = await _events(engine, "consent.coverage_lost")
    assert len(revoked) == 1 and len(lost_events) == 1
    assert lost_events[0]["detail"]["reason"] == "revoked"
    assert {item["person_id"] for item in lost_events[0]["detail"]["lost"]} == {
        str(clinic.therapist.id),
        str(clinic.prescriber.id),
    }


async def test_policy_check_answers_with_what_is_missing_and_where_to_fix_it(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    await _record(client, clinic, headers, terms=terms(clinic, clinic.therapist, purposes=("case_review",)))
    url = f"/api/v1/patients/{clinic.patient.id}/consent-check"
    covered = await client.post(
        url, json={"action": "case_review", "person_ids": [str(clinic.therapist.id)]}, headers=headers
    )
    assert covered.status_code == 200 and covered.json()["permitted"] is True
    refused = await client.post(
        url,
        json={"action": "case_review", "person_ids": [str(clinic.therapist.id), str(clinic.prescriber.id)]},
        headers=headers,
    )
    body = refused.json()
    assert body["permitted"] is False
    assert body["message"].startswith("Priya Prescriber is not covered for case reviews; the patient's consent of ")
    assert body["message"].endswith("covers only Theo Therapist.")
    assert body["fix_url"] == f"/patients/{clinic.patient.id}/consent"


async def test_another_teams_clinician_sees_no_consents(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    consent_id = (await _record(client, clinic, headers)).json()["id"]
    await client.post("/sign-out", headers=headers)
    await api_sign_in(client, "oscar@clinic.test")
    assert (await client.get(f"/api/v1/consents/{consent_id}")).status_code == 404
    assert (await client.get(f"/api/v1/patients/{clinic.patient.id}/consents")).status_code == 404


async def test_listeners_act_on_lost_coverage_and_their_effects_are_audited(client, clinic, engine) -> None:
    calls: list[service.CoverageLoss] = []

    async def remove_from_meetings(_session, loss, _settings):  # type: ignore[no-untyped-def]
        calls.append(loss)
        return [f"removed {item.name} from upcoming {item.purpose.value}" for item in loss.lost]

    service.on_coverage_lost(remove_from_meetings)
    try:
        headers = await api_sign_in(client, "theo@clinic.test")
        consent_id = (await _record(client, clinic, headers, terms=terms(clinic, purposes=("case_review",)))).json()[
            "id"
        ]
        await client.post(f"/api/v1/consents/{consent_id}/revocation", json={}, headers=headers)
    finally:
        service.remove_coverage_listener(remove_from_meetings)
    assert len(calls) == 1 and calls[0].consent_id == uuid.UUID(consent_id)
    effects = (await _events(engine, "consent.coverage_lost"))[0]["detail"]["effects"]
    assert sorted(effects) == [
        "removed Priya Prescriber from upcoming case_review",
        "removed Theo Therapist from upcoming case_review",
    ]


async def test_only_coverage_no_other_consent_provides_is_reported_lost(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    await _record(client, clinic, headers, terms=terms(clinic, clinic.therapist, purposes=("case_review",)))
    second = (await _record(client, clinic, headers, terms=terms(clinic, purposes=("case_review",)))).json()["id"]
    response = await client.post(f"/api/v1/consents/{second}/revocation", json={}, headers=headers)
    assert [(i["name"], i["purpose"]) for i in response.json()["coverage_lost"]] == [
        ("Priya Prescriber", "case_review")
    ]


async def test_ended_consents_are_acted_on_once(client, clinic, session, engine, settings) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    ends_on = (utcnow() + dt.timedelta(days=2)).date()
    await _record(client, clinic, headers, terms=terms(clinic, ends_on=ends_on.isoformat()))
    assert await service.process_lapsed(session, settings) == []
    later = utcnow() + dt.timedelta(days=3)
    losses = await service.process_lapsed(session, settings, later)
    assert len(losses) == 1 and losses[0].reason == "expired" and len(losses[0].lost) == 4
    await session.commit()
    assert await service.process_lapsed(session, settings, later + dt.timedelta(days=1)) == []
    await session.commit()
    assert len(await _events(engine, "consent.coverage_lost")) == 1


async def test_end_of_treatment_ends_consents_that_expire_on_it(client, clinic, session, settings) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    consent_id = (await _record(client, clinic, headers, terms=terms(clinic, expires_on="end_of_treatment"))).json()[
        "id"
    ]
    await client.post("/sign-out", headers=headers)
    admin = await api_sign_in(client, "admin@clinic.test")
    version = (await client.get(f"/api/v1/patients/{clinic.patient.id}")).json()["version"]
    assert (
        await client.patch(
            f"/api/v1/patients/{clinic.patient.id}", json={"version": version, "active": False}, headers=admin
        )
    ).status_code == 200
    patient = await session.get(Patient, clinic.patient.id, populate_existing=True)
    assert patient is not None and patient.treatment_ended_at is not None
    losses = await service.process_lapsed(session, settings)
    await session.commit()
    assert [loss.consent_id for loss in losses] == [uuid.UUID(consent_id)]


async def test_fhir_export_is_a_valid_r4_consent(client, clinic) -> None:
    from fhir.resources.R4B.consent import Consent as FhirConsent

    headers = await api_sign_in(client, "theo@clinic.test")
    consent_id = (
        await _record(client, clinic, headers, terms=terms(clinic, classes=("general", "substance_use")))
    ).json()["id"]
    response = await client.get(f"/api/v1/consents/{consent_id}/fhir")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    resource = FhirConsent.model_validate(response.json())
    assert resource.status == "active"
    assert resource.patient.reference == f"Patient/{clinic.patient.id}"
    actors = {actor.reference.display for actor in resource.provision.provision[0].actor if actor.reference}
    assert actors == {"Theo Therapist", "Priya Prescriber"}


async def test_polling_does_not_keep_a_session_alive(client, clinic, monkeypatch) -> None:
    import time

    from conference.auth import sessions

    await api_sign_in(client, "theo@clinic.test")
    start = time.time()
    for minutes in (5, 10, 14):
        monkeypatch.setattr(sessions.time, "time", lambda m=minutes: start + m * 60)
        assert (await client.get(f"/api/v1/patients/{clinic.patient.id}/consents/state")).status_code == 200
    monkeypatch.setattr(sessions.time, "time", lambda: start + 16 * 60)
    assert (await client.get(f"/api/v1/patients/{clinic.patient.id}/consents/state")).status_code == 401


async def test_the_background_sweep_acts_on_ended_consents(client, clinic, engine, session, settings) -> None:
    from conference.consent.lapse import sweep_once

    headers = await api_sign_in(client, "theo@clinic.test")
    consent_id = (await _record(client, clinic, headers, terms=terms(clinic, expires_on="end_of_treatment"))).json()[
        "id"
    ]
    patient = await session.get(Patient, clinic.patient.id)
    assert patient is not None
    patient.treatment_ended_at = utcnow()
    await session.commit()
    assert await sweep_once(engine, settings) == 1
    assert await sweep_once(engine, settings) == 0
    lost = await _events(engine, "consent.coverage_lost")
    assert [event["subject"] for event in lost] == [f"consent:{consent_id}"]


# ---- the patient's own pages --------------------------------------------------------------------


async def _open_patient_link(client, settings, patient_id, purpose="consent") -> None:  # type: ignore[no-untyped-def]
    from conference.auth import join_links

    expires = utcnow() + dt.timedelta(hours=1)
    token = join_links.issue(settings.secret_key, patient_id, join_links.JoinPurpose(purpose), expires)
    assert (await client.get(f"/join/{token}", follow_redirects=False)).status_code == 303


def _choices(clinic) -> dict[str, list[str] | str]:  # type: ignore[no-untyped-def]
    return {
        "purposes": ["joint_session", "case_review"],
        "person_ids": [str(clinic.therapist.id)],
        "classes": ["general"],
        "end_of_treatment": "on",
    }


def _hidden(page: str, name: str) -> str:
    import re

    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return match.group(1)


async def test_patient_reviews_signs_and_cannot_sign_the_same_twice(client, clinic, settings, session) -> None:
    from tests.support.clinic import post_form

    await _open_patient_link(client, settings, clinic.patient.id)
    review = await post_form(client, "/patient/consent/review", _choices(clinic))
    assert review.status_code == 200
    assert "I, Pat Patient, allow" in review.text and "Theo Therapist" in review.text
    signature = {
        **_choices(clinic),
        "text_sha256": _hidden(review.text, "text_sha256"),
        "signer_name": "Pat Patient",
        "agree": "on",
    }
    signed = await post_form(client, "/patient/consent/sign", signature)
    assert signed.status_code == 303 and signed.headers["location"] == "/patient?done=signed"
    twice = await post_form(client, "/patient/consent/sign", signature)
    assert twice.status_code == 409
    assert "already signed" in twice.text
    stored = (await session.scalars(select(Consent))).all()
    assert len(stored) == 1 and stored[0].signature_method == "e_signature"
    assert "I, Pat Patient, allow" in stored[0].agreed_text
    await session.rollback()


async def test_a_signature_over_text_the_patient_did_not_see_is_refused(client, clinic, settings) -> None:
    from tests.support.clinic import post_form

    await _open_patient_link(client, settings, clinic.patient.id)
    signature = {**_choices(clinic), "text_sha256": "0" * 64, "signer_name": "Pat Patient", "agree": "on"}
    response = await post_form(client, "/patient/consent/sign", signature)
    assert response.status_code == 409
    assert "read it again" in response.text


async def test_a_patient_cannot_reach_another_patients_consent(client, clinic, settings) -> None:
    headers = await api_sign_in(client, "oscar@clinic.test")
    body = {
        "terms": terms(clinic, clinic.outsider),
        "signer_name": "Quinn Other",
        "signed_on": utcnow().date().isoformat(),
        "attest": True,
    }
    others = await client.post(f"/api/v1/patients/{clinic.other_patient.id}/consents", json=body, headers=headers)
    assert others.status_code == 201, others.text
    await client.post("/sign-out", headers=headers)
    await _open_patient_link(client, settings, clinic.patient.id)
    consent_id = others.json()["id"]
    assert (await client.get(f"/patient/consents/{consent_id}")).status_code == 404
    from tests.support.clinic import post_form

    assert (await post_form(client, f"/patient/consents/{consent_id}/revoke", {})).status_code == 404


async def test_a_meeting_link_does_not_open_the_consent_pages(client, clinic, settings) -> None:
    await _open_patient_link(client, settings, clinic.patient.id, purpose="joint_session")
    assert (await client.get("/patient")).status_code == 200
    response = await client.get("/patient/consent/new")
    assert response.status_code == 403
    assert "consent link" in response.text
