"""Monthly care time over HTTP: the pages, the CSV exports, the JSON API, who may see them, the audit."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from conference.audit.models import AuditEvent
from conference.rtc.models import Attendance
from conference.scheduling.models import Meeting
from tests.integration.test_rooms_service import book, future_start, give_consent
from tests.support.clinic import api_sign_in

UTC = dt.UTC
BAD_MONTH = "Give the month as YYYY-MM, e.g. 2026-11."


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def stay(meeting: Meeting, person_id: uuid.UUID | None, role: str, start: dt.datetime, end: dt.datetime) -> Attendance:
    return Attendance(
        meeting_id=meeting.id,
        occurrence_start=meeting.starts_at,
        patient_id=meeting.patient_id,
        person_id=person_id,
        attendee="patient" if person_id is None else "clinician",
        role=role,
        joined_at=start,
        left_at=end,
        last_seen_at=end,
        left_reason="left",
    )


async def november(session, settings, clinic) -> None:  # type: ignore[no-untyped-def]
    """Pat's November 2026 in New York: therapist 25 + 10, prescriber 12 (47 in all); Pat 23."""
    await give_consent(session, clinic)
    joint = await book(session, settings, clinic, kind="joint_session")
    review = await book(session, settings, clinic, kind="case_review", start=future_start(4))
    therapist, prescriber = clinic.therapist.id, clinic.prescriber.id
    session.add_all(
        [
            stay(joint, therapist, "primary_therapist", at(10, 15), at(10, 15, 25)),
            stay(joint, therapist, "primary_therapist", at(10, 15, 10), at(10, 15, 20)),  # a second tab
            stay(joint, None, "patient", at(10, 15, 2), at(10, 15, 25)),
            stay(review, prescriber, "prescriber", at(12, 15), at(12, 15, 12)),
            # 23:50 to 00:10 local across the end of November (05:00Z, after the clocks went back).
            stay(review, therapist, "primary_therapist", at(1, 4, 50, month=12), at(1, 5, 10, month=12)),
        ]
    )
    await session.commit()


async def committed(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    async with async_sessionmaker(engine)() as fresh:
        return list(await fresh.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_the_patients_month_page_shows_roles_kinds_and_the_threshold(
    client, clinic, session: AsyncSession, settings, engine
) -> None:
    await november(session, settings, clinic)
    await api_sign_in(client, "theo@clinic.test")
    page = await client.get(f"/patients/{clinic.patient.id}/care-time", params={"month": "2026-11"})
    assert page.status_code == 200
    text = page.text
    assert "Care time, November 2026" in text and "<caption" in text
    assert "Reaches 20 minutes" in text and "Below 20 minutes" not in text
    assert "<strong>47 minutes</strong>" in text
    assert '<th scope="row">Primary therapist</th>' in text and '<th scope="row">Prescriber</th>' in text
    assert "23 minutes" in text  # the patient's own time, beside the total
    assert f"/patients/{clinic.patient.id}/care-time?month=2026-10" in text
    assert f"/patients/{clinic.patient.id}/care-time?month=2026-12" in text
    assert "<script" not in text and "style=" not in text
    assert "<title>Care time \u2013 Case Conference</title>" in text  # no name in the title

    october = await client.get(f"/patients/{clinic.patient.id}/care-time", params={"month": "2026-10"})
    assert "Below 20 minutes" in october.text and "20 more to reach" in october.text

    reads = await committed(engine, "care_time.read")
    assert [(e.patient_id, e.actor_id, e.detail["month"]) for e in reads] == [
        (clinic.patient.id, clinic.therapist.id, "2026-11"),
        (clinic.patient.id, clinic.therapist.id, "2026-10"),
    ]


async def test_the_api_counts_the_month_in_the_zone_asked_for(client, clinic, session, settings) -> None:
    await november(session, settings, clinic)
    await api_sign_in(client, "priya@clinic.test")
    path = f"/api/v1/patients/{clinic.patient.id}/care-time"
    body = (await client.get(path, params={"month": "2026-11"})).json()
    assert body["time_zone"] == "America/New_York" and body["month"] == "2026-11"
    assert body["care_management_minutes"] == 47 and body["reaches_threshold"] is True
    assert body["threshold_minutes"] == 20
    assert body["clinicians"] == [
        {"role": "primary_therapist", "role_label": "Primary therapist", "kind": "joint_session", "minutes": 25},
        {"role": "primary_therapist", "role_label": "Primary therapist", "kind": "case_review", "minutes": 10},
        {"role": "prescriber", "role_label": "Prescriber", "kind": "case_review", "minutes": 12},
    ]
    assert body["patient_present"] == [{"kind": "joint_session", "minutes": 23}]
    assert body["starts_at"].startswith("2026-11-01T04:00:00") and body["ends_at"].startswith("2026-12-01T05:00:00")
    # Counted in UTC, the stay across New York's midnight belongs to December.
    in_utc = (await client.get(path, params={"month": "2026-11", "zone": "UTC"})).json()
    assert in_utc["care_management_minutes"] == 37

    for bad in ("2026-13", "11-2026", "2026-1"):
        refused = await client.get(path, params={"month": bad})
        assert refused.status_code == 400 and refused.json()["detail"] == BAD_MONTH
    unknown_zone = await client.get(path, params={"month": "2026-11", "zone": "Mars/Olympus"})
    assert unknown_zone.status_code == 400 and "not a known time zone" in unknown_zone.json()["detail"]


async def test_a_malformed_month_on_a_page_says_how_to_write_it(client, clinic) -> None:
    await api_sign_in(client, "theo@clinic.test")
    for path in (f"/patients/{clinic.patient.id}/care-time", "/care-time", "/care-time.csv"):
        refused = await client.get(path, params={"month": "Nov 2026"})
        assert refused.status_code == 400 and BAD_MONTH in refused.text


async def test_the_patients_csv_has_a_row_per_role_and_kind(client, clinic, session, settings, engine) -> None:
    await november(session, settings, clinic)
    await api_sign_in(client, "theo@clinic.test")
    answer = await client.get(f"/patients/{clinic.patient.id}/care-time.csv", params={"month": "2026-11"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    disposition = answer.headers["content-disposition"]
    assert disposition == f'attachment; filename="care-time-2026-11-{clinic.patient.id}.csv"'
    assert "Pat" not in disposition
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["role"], r["meeting_kind"], r["minutes"], r["counted"]) for r in rows] == [
        ("primary_therapist", "joint_session", "25", "yes"),
        ("primary_therapist", "case_review", "10", "yes"),
        ("prescriber", "case_review", "12", "yes"),
        ("patient", "joint_session", "23", "no"),
    ]
    assert {(r["patient_name"], r["care_management_minutes"], r["reaches_20_minutes"]) for r in rows} == {
        ("Pat Patient", "47", "yes")
    }
    [export] = await committed(engine, "care_time.export")
    assert export.patient_id == clinic.patient.id and export.detail["month"] == "2026-11"


async def test_the_clinic_month_lists_only_my_patients_with_their_totals(
    client, clinic, session, settings, engine
) -> None:
    await november(session, settings, clinic)
    await api_sign_in(client, "theo@clinic.test")
    page = await client.get("/care-time", params={"month": "2026-11"})
    assert page.status_code == 200
    assert "Pat Patient" in page.text and "Quinn Other" not in page.text
    assert "1 of 1 patient" in page.text and "Reaches 20 minutes" in page.text
    assert f"/patients/{clinic.patient.id}/care-time?month=2026-11" in page.text
    assert 'href="/care-time?month=2026-12"' in page.text and 'href="/care-time.csv?month=2026-11"' in page.text

    export = await client.get("/care-time.csv", params={"month": "2026-11"})
    assert export.headers["content-disposition"] == 'attachment; filename="care-time-2026-11.csv"'
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {r["patient_id"] for r in rows} == {str(clinic.patient.id)} and len(rows) == 4
    reads = await committed(engine, "care_time.read")
    assert [(e.patient_id, e.detail["view"]) for e in reads] == [(clinic.patient.id, "clinic")]
    assert [e.patient_id for e in await committed(engine, "care_time.export")] == [clinic.patient.id]


async def test_a_clinician_not_on_the_team_is_refused_and_the_refusal_is_audited(
    client, clinic, session, settings, engine
) -> None:
    await november(session, settings, clinic)
    await api_sign_in(client, "oscar@clinic.test")
    for path in (
        f"/patients/{clinic.patient.id}/care-time",
        f"/patients/{clinic.patient.id}/care-time.csv",
        f"/api/v1/patients/{clinic.patient.id}/care-time",
    ):
        refused = await client.get(path, params={"month": "2026-11"})
        assert refused.status_code == 404, path
        assert "47" not in refused.text
    denied = await committed(engine, "patient.read.denied")
    assert [e.patient_id for e in denied] == [clinic.patient.id] * 3
    assert await committed(engine, "care_time.read") == []

    # Their own month lists their own patient only, with nothing of Pat's.
    own = await client.get("/care-time", params={"month": "2026-11"})
    assert "Quinn Other" in own.text and "Pat Patient" not in own.text
    assert "0 of 1 patient" in own.text and "Below 20 minutes" in own.text


async def test_an_administrator_without_a_clinical_role_sees_no_care_time(client, clinic, engine) -> None:
    await api_sign_in(client, "admin@clinic.test")
    assert (await client.get("/care-time")).status_code == 403
    assert (await client.get("/care-time.csv")).status_code == 403
    assert (await client.get(f"/patients/{clinic.patient.id}/care-time")).status_code == 404
    refusals = await committed(engine, "care_time.read.denied")
    assert [e.actor_id for e in refusals] == [clinic.admin.id] * 2
    home = await client.get("/admin/people")
    assert 'href="/care-time"' not in home.text  # the link is for clinicians


async def test_without_a_month_the_current_one_is_shown(client, clinic) -> None:
    await api_sign_in(client, "theo@clinic.test")
    body = (await client.get(f"/api/v1/patients/{clinic.patient.id}/care-time")).json()
    now = dt.datetime.now(UTC).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert body["month"] in {f"{now:%Y-%m}", f"{(now + dt.timedelta(hours=1)):%Y-%m}"}
    assert body["care_management_minutes"] == 0 and body["clinicians"] == []
    page = await client.get("/care-time")
    assert 'aria-current="page">Care time</a>' in page.text
