"""Patient join links: a narrowly scoped patient session, and clear refusals."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from conference.audit.models import AuditEvent
from conference.auth import join_links
from conference.auth.join_links import JoinPurpose
from tests.support.clinic import post_form


def _link(settings, patient_id: uuid.UUID, *, hours: float = 1, purpose: JoinPurpose = JoinPurpose.CONSENT) -> str:  # type: ignore[no-untyped-def]
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    return "/join/" + join_links.issue(settings.secret_key, patient_id, purpose, expires)


async def test_join_link_opens_a_patient_session_for_that_patient_only(client, clinic, settings, engine) -> None:
    response = await client.get(_link(settings, clinic.patient.id), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/patient"
    home = await client.get("/patient")
    assert home.status_code == 200
    assert "Pat Patient" in home.text and "Theo Therapist" in home.text
    # The patient session is not a staff session: staff pages and the API stay closed.
    assert (await client.get("/api/v1/patients")).status_code == 401
    assert (await client.get(f"/patients/{clinic.patient.id}", follow_redirects=False)).status_code == 303
    async with engine.connect() as connection:
        actions = set(
            (
                await connection.execute(select(AuditEvent.action).where(AuditEvent.patient_id == clinic.patient.id))
            ).scalars()
        )
    assert {"join_link.opened", "patient.read_own"} <= actions


async def test_tampered_link_is_403_with_what_to_do(client, clinic, settings) -> None:
    link = _link(settings, clinic.patient.id)
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    response = await client.get(tampered)
    assert response.status_code == 403
    assert "Ask your care team to send you a new link" in response.text
    assert (await client.get("/patient")).status_code == 401


async def test_link_signed_with_another_key_is_refused(client, clinic) -> None:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    token = join_links.issue("some other secret", clinic.patient.id, JoinPurpose.CONSENT, expires)
    assert (await client.get(f"/join/{token}")).status_code == 403


async def test_expired_link_says_it_expired(client, clinic, settings) -> None:
    response = await client.get(_link(settings, clinic.patient.id, hours=-1))
    assert response.status_code == 403
    assert "expired" in response.text


async def test_link_for_an_unknown_patient_is_refused(client, clinic, settings) -> None:
    assert (await client.get(_link(settings, uuid.uuid4()))).status_code == 403


async def test_patient_can_sign_out(client, clinic, settings) -> None:
    await client.get(_link(settings, clinic.patient.id))
    assert (await client.get("/patient")).status_code == 200
    response = await post_form(client, "/sign-out", {})
    assert response.status_code == 303
    assert (await client.get("/patient")).status_code == 401
