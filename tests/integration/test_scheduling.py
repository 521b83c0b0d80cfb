"""Meetings: consent-checked booking, conflicts, recurrence, invitations by email, reminders, feeds."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from conference.app import create_app
from conference.audit.models import AuditEvent
from conference.consent import service as consent
from conference.consent.policy import Purpose
from conference.consent.schemas import ConsentTerms, InPersonConsent, ProvisionIn
from conference.db import utcnow
from conference.mail import deliver_pending
from conference.people.service import Caller
from conference.scheduling.reminders import remind_once
from tests.conftest import BASE_URL
from tests.support.clinic import api_sign_in
from tests.support.smtp import calendar_part, smtp_server


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    with smtp_server() as (inbox, port):
        yield inbox, port


@pytest.fixture
async def mailing(settings, smtp) -> AsyncIterator[tuple[AsyncTestClient, object, object]]:  # type: ignore[no-untyped-def]
    inbox, port = smtp
    configured = dataclasses.replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        mail_poll_seconds=3600,
        reminder_poll_seconds=3600,
    )
    async with AsyncTestClient(create_app(configured), base_url=BASE_URL) as client:
        yield client, inbox, configured


async def give_consent(session, clinic, *purposes: Purpose) -> None:  # type: ignore[no-untyped-def]
    await session.refresh(clinic.patient, ["team"])
    terms = ConsentTerms(
        provisions=[
            ProvisionIn(
                purposes=list(purposes or (Purpose.CASE_REVIEW, Purpose.JOINT_SESSION)),
                person_ids=[clinic.therapist.id, clinic.prescriber.id],
            )
        ]
    )
    await consent.record_in_person(
        session,
        Caller(clinic.therapist),
        clinic.patient.id,
        InPersonConsent(terms=terms, signer_name="Pat Patient", signed_on=utcnow().date(), attest=True),
    )
    await session.commit()


def next_weekday_at(hour: int, zone_offset_hours: int = -5, days_ahead: int = 3) -> dt.datetime:
    day = (utcnow() + dt.timedelta(days=days_ahead)).date()
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), dt.timezone(dt.timedelta(hours=zone_offset_hours)))


def booking(clinic, when: dt.datetime, **extra):  # type: ignore[no-untyped-def]
    body = {
        "kind": "case_review",
        "patient_id": str(clinic.patient.id),
        "start": when.isoformat(),
        "duration_minutes": 60,
        "participants": [{"person_id": str(clinic.prescriber.id)}],
    }
    body.update(extra)
    return body


async def test_booking_without_consent_lists_what_is_missing(client, clinic) -> None:
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await client.post("/api/v1/meetings", json=booking(clinic, next_weekday_at(10)), headers=headers)
    assert response.status_code == 403
    body = response.json()
    assert "not covered for case reviews" in body["detail"]
    assert body["fix_url"] == f"/patients/{clinic.patient.id}/consent"
    assert {gap["person_id"] for gap in body["gaps"]} == {str(clinic.therapist.id), str(clinic.prescriber.id)}


async def test_booking_sends_invitations_and_changes_raise_the_sequence(mailing, clinic, session, engine) -> None:
    client, inbox, settings = mailing
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    created = await client.post("/api/v1/meetings", json=booking(clinic, next_weekday_at(10)), headers=headers)
    assert created.status_code == 201, created.text
    meeting = created.json()
    assert meeting["title"] == "Case review" and meeting["sequence"] == 0
    assert await deliver_pending(engine, settings) == 1
    [invitation] = inbox.to("priya@clinic.test")
    method, body = calendar_part(invitation)
    assert method == "REQUEST" and "METHOD:REQUEST" in body and "SEQUENCE:0" in body
    assert invitation["Subject"].startswith("Invitation: Case review, ")
    assert "Pat Patient" not in invitation.as_string()

    moved = await client.put(
        f"/api/v1/meetings/{meeting['id']}/time",
        headers=headers,
        json={"version": meeting["version"], "start": next_weekday_at(14).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["sequence"] == 1
    await deliver_pending(engine, settings)
    update = inbox.to("priya@clinic.test")[-1]
    assert update["Subject"].startswith("Updated: ")
    assert "SEQUENCE:1" in calendar_part(update)[1]

    stale = await client.post(
        f"/api/v1/meetings/{meeting['id']}/cancel", json={"version": meeting["version"]}, headers=headers
    )
    assert stale.status_code == 409
    cancelled = await client.post(
        f"/api/v1/meetings/{meeting['id']}/cancel", json={"version": moved.json()["version"]}, headers=headers
    )
    assert cancelled.json()["status"] == "cancelled"
    await deliver_pending(engine, settings)
    method, body = calendar_part(inbox.to("priya@clinic.test")[-1])
    assert method == "CANCEL" and "STATUS:CANCELLED" in body and "SEQUENCE:2" in body


async def test_conflicts_answer_409_with_times_unless_overridden(client, clinic, session, engine) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    start = next_weekday_at(10)
    assert (await client.post("/api/v1/meetings", json=booking(clinic, start), headers=headers)).status_code == 201
    clash = await client.post(
        "/api/v1/meetings", json=booking(clinic, start + dt.timedelta(minutes=30)), headers=headers
    )
    assert clash.status_code == 409
    assert {c["name"] for c in clash.json()["conflicts"]} == {"Theo Therapist", "Priya Prescriber"}
    assert "clashes with other meetings" in clash.json()["detail"]
    forced = await client.post(
        "/api/v1/meetings",
        headers=headers,
        json=booking(
            clinic, start + dt.timedelta(minutes=30), override_reason="Urgent: medication review before discharge"
        ),
    )
    assert forced.status_code == 201
    assert forced.json()["conflict_override_reason"].startswith("Urgent")


async def test_weekly_series_cancel_move_and_split(client, clinic, session) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    created = await client.post(
        "/api/v1/meetings", headers=headers, json=booking(clinic, next_weekday_at(9), rrule="FREQ=WEEKLY;COUNT=6")
    )
    assert created.status_code == 201, created.text
    series = created.json()
    originals = [o["recurrence_id"] for o in series["occurrences"]]
    assert len(originals) == 6
    url = f"/api/v1/meetings/{series['id']}"
    cancelled = await client.post(
        f"{url}/occurrences/cancel", headers=headers, json={"version": series["version"], "recurrence_id": originals[1]}
    )
    assert cancelled.status_code == 200
    assert [o["cancelled"] for o in cancelled.json()["occurrences"]] == [False, True, False, False, False, False]
    new_time = dt.datetime.fromisoformat(originals[2]) + dt.timedelta(days=1, hours=2)
    moved = await client.post(
        f"{url}/occurrences/move",
        headers=headers,
        json={"version": cancelled.json()["version"], "recurrence_id": originals[2], "start": new_time.isoformat()},
    )
    assert moved.status_code == 200, moved.text
    third = moved.json()["occurrences"][2]
    assert third["moved"] and dt.datetime.fromisoformat(third["start"]) == new_time
    split = await client.post(
        f"{url}/occurrences/move",
        headers=headers,
        json={
            "version": moved.json()["version"],
            "recurrence_id": originals[4],
            "start": (dt.datetime.fromisoformat(originals[4]) + dt.timedelta(hours=3)).isoformat(),
            "this_and_following": True,
        },
    )
    assert split.status_code == 200, split.text
    following = split.json()
    assert following["id"] != series["id"] and len(following["occurrences"]) == 2
    before = (await client.get(url)).json()
    assert len(before["occurrences"]) == 4 and "UNTIL=" in before["rrule"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"rrule": "FREQ=WEEKLY"}, "rrule", "needs an end"),
        ({"rrule": "FREQ=DAILY;COUNT=3"}, "rrule", "Only weekly"),
        ({"duration_minutes": 0}, "duration_minutes", ""),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not a known time zone"),
        ({"start": "2026-03-03T09:00:00"}, "start", "time zone offset"),
        ({"start": "2001-03-03T09:00:00+00:00"}, "start", "already passed"),
    ],
)
async def test_bad_meeting_input_is_named(client, clinic, session, change, field, words) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    response = await client.post(
        "/api/v1/meetings", json=booking(clinic, next_weekday_at(10), **change), headers=headers
    )
    assert response.status_code == 400, response.text
    detail = response.json()
    assert field in (detail.get("field"), *(e["field"] for e in detail.get("errors", [])))
    assert words in detail["detail"]


async def test_slots_respect_meetings_and_show_each_persons_time(client, clinic, session) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    query = {
        "participants": [{"person_id": str(clinic.prescriber.id)}, {"person_id": str(clinic.therapist.id)}],
        "duration_minutes": 60,
        "days": 7,
        "limit": 5,
    }
    slots = await client.post("/api/v1/slots", json=query, headers=headers)
    assert slots.status_code == 200, slots.text
    first = slots.json()[0]
    booked = await client.post(
        "/api/v1/meetings", json=booking(clinic, dt.datetime.fromisoformat(first["start"])), headers=headers
    )
    assert booked.status_code == 201
    again = (await client.post("/api/v1/slots", json=query, headers=headers)).json()
    assert first["start"] not in [slot["start"] for slot in again]
    assert re.match(r"^\w{3} \d+ \w{3} \d\d:\d\d E[SD]T$", first["local"][str(clinic.prescriber.id)])
    too_far = await client.post("/api/v1/slots", json={**query, "days": 400}, headers=headers)
    assert too_far.status_code == 400


async def test_revoked_consent_removes_the_uncovered_participant(client, clinic, session, engine) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    meeting = (await client.post("/api/v1/meetings", json=booking(clinic, next_weekday_at(11)), headers=headers)).json()
    consents = (await client.get(f"/api/v1/patients/{clinic.patient.id}/consents")).json()
    # Replace the consent with one that covers only the therapist, then revoke the old one.
    only_theo = {
        "terms": {"provisions": [{"purposes": ["case_review"], "person_ids": [str(clinic.therapist.id)]}]},
        "signer_name": "Pat Patient",
        "signed_on": utcnow().date().isoformat(),
        "attest": True,
    }
    assert (
        await client.post(f"/api/v1/patients/{clinic.patient.id}/consents", json=only_theo, headers=headers)
    ).status_code == 201
    revoked = await client.post(f"/api/v1/consents/{consents[0]['id']}/revocation", json={}, headers=headers)
    assert revoked.status_code == 200
    after = (await client.get(f"/api/v1/meetings/{meeting['id']}")).json()
    priya = next(p for p in after["participants"] if p["name"] == "Priya Prescriber")
    assert priya["removed"] and "consent" in priya["removed_reason"]
    assert after["attention"] and after["sequence"] == 1
    async with engine.connect() as connection:
        lost = (
            (await connection.execute(select(AuditEvent.detail).where(AuditEvent.action == "consent.coverage_lost")))
            .scalars()
            .all()
        )
    assert any(f"meeting:{meeting['id']}" in effect for detail in lost for effect in detail["effects"])


async def test_reminders_are_queued_once(mailing, clinic, session, engine) -> None:
    client, inbox, settings = mailing
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    start = next_weekday_at(10)
    await client.post("/api/v1/meetings", json=booking(clinic, start), headers=headers)
    await deliver_pending(engine, settings)
    before = len(inbox.messages)
    soon = start.astimezone(dt.UTC) - dt.timedelta(minutes=10)
    assert await remind_once(engine, settings, now=soon) == 2  # the therapist and the prescriber
    assert await remind_once(engine, settings, now=soon + dt.timedelta(minutes=1)) == 0
    await deliver_pending(engine, settings)
    reminders = inbox.messages[before:]
    assert len(reminders) == 2 and all(m["Subject"].startswith("Reminder: Case review") for m in reminders)
    day_before = start.astimezone(dt.UTC) - dt.timedelta(hours=23)
    # Booked within the last day of that moment? No: booked days ahead, so the 24-hour reminder is due.
    assert await remind_once(engine, settings, now=day_before) == 2


async def test_feed_is_stable_answers_304_and_follows_rotation(client, clinic, session) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    await client.post(
        "/api/v1/meetings", json=booking(clinic, next_weekday_at(10), rrule="FREQ=WEEKLY;COUNT=3"), headers=headers
    )
    url = (await client.post("/api/v1/me/feed-token", headers=headers)).json()["url"]
    path = url.removeprefix(BASE_URL)
    first, second = await client.get(path), await client.get(path)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/calendar")
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    body = first.text
    assert "Pat Patient" not in body and "ATTENDEE" not in body and "/join/" not in body
    assert "RRULE:FREQ=WEEKLY;COUNT=3" in body and "SUMMARY:Case review" in body
    not_modified = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
    new_url = (await client.post("/api/v1/me/feed-token", headers=headers)).json()["url"]
    assert (await client.get(path)).status_code == 404
    assert (await client.get(new_url.removeprefix(BASE_URL))).status_code == 200
    await client.delete("/api/v1/me/feed-token", headers=headers)
    assert (await client.get(new_url.removeprefix(BASE_URL))).status_code == 404


async def test_feed_requests_are_rate_limited(settings, clinic, session) -> None:
    app = create_app(dataclasses.replace(settings, feed_requests_per_hour=3))
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        headers = await api_sign_in(client, "theo@clinic.test")
        path = (await client.post("/api/v1/me/feed-token", headers=headers)).json()["url"].removeprefix(BASE_URL)
        assert [(await client.get(path)).status_code for _ in range(4)] == [200, 200, 200, 429]
