"""The minutes pages without a browser: opened from the meeting page, written and signed with
plain form posts, a stale save reconciled, problems shown beside their fields, the signed view."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from conference.consent.policy import Purpose
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.minutes import service
from conference.plans import service as plans
from conference.rtc import pages as rtc_pages
from conference.scheduling import pages as scheduling_pages
from conference.scheduling.models import Meeting
from tests.integration.test_minutes import book, give_consent
from tests.support.clinic import api_headers, csrf_token, post_form, sign_in

MINUTES_PATH = re.compile(r"^/minutes/(?P<id>[0-9a-f-]{36})")


@pytest.fixture
async def meeting(session, clinic, settings, monkeypatch) -> Meeting:  # type: ignore[no-untyped-def]
    """A case review that started half an hour ago, as far as minutes and the meeting page know."""
    await give_consent(session, clinic, purposes=[Purpose.CASE_REVIEW])
    booked = await book(session, settings, clinic)
    now = booked.starts_at + dt.timedelta(minutes=30)
    monkeypatch.setattr(service, "utcnow", lambda: now)
    monkeypatch.setattr(scheduling_pages, "utcnow", lambda: now)
    return booked


def occurrence(meeting: Meeting) -> str:
    return meeting.starts_at.strftime("%Y%m%dT%H%M%SZ")


async def open_minutes(client: AsyncTestClient[Litestar], meeting: Meeting) -> str:
    opened = await post_form(client, f"/meetings/{meeting.id}/occurrences/{occurrence(meeting)}/minutes", {})
    assert opened.status_code == 303, opened.text
    found = MINUTES_PATH.match(opened.headers["location"])
    assert found, opened.headers["location"]
    return found["id"]


async def stored(client: AsyncTestClient[Litestar], minutes_id: str) -> dict:  # type: ignore[type-arg]
    response = await client.get(f"/api/v1/minutes/{minutes_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def filled(clinic, version: int, **extra: str | list[str]) -> dict[str, str | list[str]]:  # type: ignore[no-untyped-def]
    """The editor's form as a clinician fills it in: complete enough to sign."""
    form: dict[str, str | list[str]] = {
        "version": str(version),
        "attendees-0-row": "1",
        "attendees-0-who": str(clinic.therapist.id),
        "attendees-0-minutes_present": "30",
        "attendees-1-row": "1",
        "attendees-1-who": str(clinic.prescriber.id),
        "attendees-1-minutes_present": "25",
        "agenda_items-0-row": "1",
        "agenda_items-0-title": "Sleep and mood",
        "agenda_items-0-discussion": "Sleeping better; mood still low.",
        "decisions-0-row": "1",
        "decisions-0-text": "Start sertraline.",
        "action_items-0-row": "1",
        "action_items-0-text": "Phone check-in next week",
        "action_items-0-owner_id": str(clinic.therapist.id),
        "action_items-0-due_on": "",
    }
    form.update(extra)
    return form


MEDICATION_CHANGE = {
    "proposed_changes-0-row": "1",
    "proposed_changes-0-op": "add_medication",
    "proposed_changes-0-name": "sertraline",
    "proposed_changes-0-dose": "50 mg daily",
    "proposed_changes-0-instructions": "",
    "proposed_changes-0-high_risk": "on",
    "proposed_changes-0-reason": "Mood still low after eight weeks.",
    # Fields of other kinds of change are posted too (hidden in the page) and ignored.
    "proposed_changes-0-patient_calls": "ignored",
}


async def test_the_meeting_page_opens_minutes_once_the_meeting_has_started(
    client, clinic, meeting, monkeypatch
) -> None:
    await sign_in(client, "theo@clinic.test")
    page = await client.get(f"/meetings/{meeting.id}")
    action = f"/meetings/{meeting.id}/occurrences/{occurrence(meeting)}/minutes"
    assert page.status_code == 200 and action in page.text and "Write minutes" in page.text

    minutes_id = await open_minutes(client, meeting)
    editor = await client.get(f"/minutes/{minutes_id}")
    assert editor.status_code == 200
    assert "Minutes: Case review of" in editor.text and 'id="minutes-form"' in editor.text
    assert "/static/js/minutes.js" in editor.text
    # The room page's button posts to the room's own address plus /minutes, in a new tab: the same minutes.
    monkeypatch.setattr(rtc_pages, "utcnow", lambda: meeting.starts_at + dt.timedelta(minutes=30))
    room = await client.get(f"/rooms/{meeting.id}/{occurrence(meeting)}")
    assert room.status_code == 200, room.text
    assert re.search(
        rf'<form method="post" action="/rooms/{meeting.id}/{occurrence(meeting)}/minutes" target="_blank"', room.text
    )
    again = await post_form(client, f"/rooms/{meeting.id}/{occurrence(meeting)}/minutes", {})
    assert again.status_code == 303 and again.headers["location"] == f"/minutes/{minutes_id}"
    assert "Open minutes" in (await client.get(f"/meetings/{meeting.id}")).text
    patient = await client.get(f"/patients/{clinic.patient.id}")
    assert f'href="/minutes/{minutes_id}"' in patient.text and "Draft" in patient.text

    early = meeting.starts_at - dt.timedelta(minutes=5)
    monkeypatch.setattr(scheduling_pages, "utcnow", lambda: early)
    assert action not in (await client.get(f"/meetings/{meeting.id}")).text


async def test_minutes_cannot_be_opened_before_the_meeting_starts(client, clinic, meeting, monkeypatch) -> None:
    monkeypatch.setattr(service, "utcnow", lambda: meeting.starts_at - dt.timedelta(minutes=5))
    await sign_in(client, "theo@clinic.test")
    refused = await post_form(client, f"/meetings/{meeting.id}/occurrences/{occurrence(meeting)}/minutes", {})
    assert refused.status_code == 409
    assert "Minutes can be written once the meeting starts" in refused.text
    assert f'href="/meetings/{meeting.id}"' in refused.text


async def test_without_javascript_rows_are_added_saved_removed_and_signed(client, session, clinic, meeting) -> None:
    await give_consent(
        session, clinic, purposes=[Purpose.CASE_REVIEW, Purpose.SHARE_MINUTES], classes=("general", "medication")
    )
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    path = f"/minutes/{minutes_id}"

    added = await post_form(
        client, path, {"version": "1", "action": "add:proposed_changes", "new_change_op": "add_medication"}
    )
    assert added.status_code == 303
    assert added.headers["location"] == f"{path}?done=added#m-proposed_changes-0"
    editor = await client.get(added.headers["location"])
    assert 'name="proposed_changes-0-dose"' in editor.text and "Added." in editor.text
    assert (await stored(client, minutes_id))["content"]["proposed_changes"] == [
        {"op": "add_medication", "high_risk": False, "reason": ""}
    ]

    saved = await post_form(
        client,
        path,
        filled(clinic, 2, **MEDICATION_CHANGE, **{"proposed_changes-0-prescriber_id": str(clinic.prescriber.id)}),
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{path}?done=saved"
    body = await stored(client, minutes_id)
    content = body["content"]
    assert body["version"] == 3
    assert [attendee["name"] for attendee in content["attendees"]] == ["Theo Therapist", "Priya Prescriber"]
    assert content["attendees"][1]["role"] == "prescriber" and content["attendees"][1]["minutes_present"] == 25
    assert content["proposed_changes"] == [
        {
            "op": "add_medication",
            "name": "sertraline",
            "dose": "50 mg daily",
            "prescriber_id": str(clinic.prescriber.id),
            "instructions": "",
            "high_risk": True,
            "reason": "Mood still low after eight weeks.",
        }
    ]
    editor = await client.get(path)
    assert 'value="sertraline"' in editor.text and "Theo Therapist" in editor.text

    # Remove the decision (it is posted back with everything else), then ask to finalize.
    removed = await post_form(
        client,
        path,
        filled(
            clinic,
            3,
            action="remove:decisions:0",
            **MEDICATION_CHANGE,
            **{"proposed_changes-0-prescriber_id": str(clinic.prescriber.id)},
        ),
    )
    assert removed.status_code == 303 and "done=removed" in removed.headers["location"]
    assert (await stored(client, minutes_id))["content"]["decisions"] == []

    finalizing = await post_form(
        client,
        path,
        filled(
            clinic,
            4,
            action="finalize",
            **MEDICATION_CHANGE,
            **{"proposed_changes-0-prescriber_id": str(clinic.prescriber.id)},
        ),
    )
    assert finalizing.status_code == 303 and finalizing.headers["location"] == f"{path}/finalize"
    confirm = await client.get(f"{path}/finalize")
    assert confirm.status_code == 200
    assert "Sign and finalize" in confirm.text and "What will be signed" in confirm.text
    assert "Start a medication" in confirm.text and "High risk" in confirm.text and "Medication" in confirm.text

    signed = await post_form(client, f"{path}/finalize", {"version": "5"})
    assert signed.status_code == 303, signed.text
    location = signed.headers["location"]
    assert location == f"{path}?done=finalized"
    final = await client.get(location)
    assert final.status_code == 200
    assert "Signed. These minutes are final." in final.text
    assert (await stored(client, minutes_id))["content_hash"] in final.text
    (revision,) = await plans.revisions_from_minutes(session, uuid.UUID(minutes_id))
    revision_id = revision.id
    await session.commit()  # SQLite: a transaction left open would hold the write lock
    assert f'href="/revisions/{revision_id}"' in final.text and "waiting for its approvals" in final.text
    # The link stays on the signed view, not only on the page right after signing.
    assert f'href="/revisions/{revision_id}"' in (await client.get(path)).text
    assert f'href="/api/v1/minutes/{minutes_id}/fhir"' in final.text
    assert "Protected substance use information" not in final.text

    # Signed minutes are not edited by posting the form again.
    late = await post_form(client, path, filled(clinic, 6))
    assert late.status_code == 303 and late.headers["location"] == path
    assert (await stored(client, minutes_id))["version"] == 6


async def test_a_stale_save_shows_both_versions_and_saves_the_choices(client, clinic, meeting) -> None:
    await sign_in(client, "theo@clinic.test")
    headers = api_headers(await csrf_token(client))
    minutes_id = await open_minutes(client, meeting)
    path = f"/minutes/{minutes_id}"
    theirs = {
        "agenda_items": [{"title": "Their agenda", "discussion": ""}],
        "decisions": ["Their decision"],
    }
    moved_on = await client.put(f"/api/v1{path}", json={"version": 1, "content": theirs}, headers=headers)
    assert moved_on.status_code == 200

    mine = await post_form(
        client,
        path,
        {
            "version": "1",
            "agenda_items-0-row": "1",
            "agenda_items-0-title": "My agenda",
            "decisions-0-row": "1",
            "decisions-0-text": "My decision",
        },
    )
    assert mine.status_code == 409
    page = mine.text
    assert "Someone else saved these minutes" in page and "Nothing has been overwritten" in page
    for text in ("Their agenda", "My agenda", "Their decision", "My decision"):
        assert text in page
    assert 'name="choice-agenda_items"' in page and 'name="choice-decisions"' in page
    assert 'name="choice-attendees"' not in page  # the same in both
    assert (await stored(client, minutes_id))["content"]["decisions"] == ["Their decision"]

    hidden = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(mine|theirs|version)" value="([^"]*)"', page)
    }
    assert hidden["version"] == "2"
    chosen = await post_form(
        client,
        f"{path}/reconcile",
        {**hidden, "choice-agenda_items": "mine", "choice-decisions": "theirs"},
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == f"{path}?done=reconciled"
    content = (await stored(client, minutes_id))["content"]
    assert content["agenda_items"][0]["title"] == "My agenda" and content["decisions"] == ["Their decision"]

    # Choosing against a version that has moved on again compares again; nothing is lost.
    again = await post_form(client, f"{path}/reconcile", {**hidden, "choice-agenda_items": "mine"})
    assert again.status_code == 409 and "Someone else saved these minutes" in again.text


async def test_finalizing_shows_each_problem_beside_its_field(client, clinic, meeting) -> None:
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    path = f"/minutes/{minutes_id}"
    form = filled(
        clinic,
        1,
        **{
            "action_items-1-row": "1",
            "action_items-1-text": "Book labs",
            "measures-0-row": "1",
            "measures-0-instrument": "phq9",
            "measures-0-score": "",
            "measures-0-administered_on": "",
        },
    )
    assert (await post_form(client, path, {**form, "action": "finalize"})).status_code == 303

    # The confirmation step finds problems first and shows the editor with them.
    confirm = await client.get(f"{path}/finalize")
    assert confirm.status_code == 200 and "Sign and finalize" not in confirm.text
    assert "Action item 2 needs an owner: choose who will do it." in confirm.text

    refused = await post_form(client, f"{path}/finalize", {"version": "2"})
    assert refused.status_code == 400
    page = refused.text
    assert "Fix these 3 things before the minutes can be signed" in page
    owner = re.search(r'<select id="m-action_items-1-owner_id"[^>]*>', page)
    assert owner and 'aria-invalid="true"' in owner.group(0)
    assert 'aria-describedby="m-action_items-1-owner_id-problem"' in owner.group(0)
    assert re.search(
        r'id="m-action_items-1-owner_id-problem">Action item 2 needs an owner: choose who will do it\.<', page
    )
    assert 'href="#m-measures-0-score"' in page and "Measure 1: give the PHQ-9 score." in page
    assert (await stored(client, minutes_id))["status"] == "draft"


async def test_the_signed_view_carries_the_part_2_notice_and_amends(client, session, clinic, meeting) -> None:
    await give_consent(
        session, clinic, purposes=[Purpose.CASE_REVIEW, Purpose.SHARE_MINUTES], classes=("general", "substance_use")
    )
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    path = f"/minutes/{minutes_id}"
    saved = await post_form(client, path, filled(clinic, 1, includes_substance_use="on", action="finalize"))
    assert saved.status_code == 303
    confirm = await client.get(f"{path}/finalize")
    assert "Protected substance use information (42 CFR Part 2)" in confirm.text
    assert (await post_form(client, f"{path}/finalize", {"version": "2"})).status_code == 303

    final = await client.get(path)
    assert final.status_code == 200
    assert "Protected substance use information (42 CFR Part 2)" in final.text
    assert html.escape(REDISCLOSURE_NOTICE) in final.text
    assert '<span class="badge">Substance use treatment records (42 CFR Part 2)</span>' in final.text
    assert "Theo Therapist" in final.text and "SHA-256" in final.text

    amended = await post_form(client, f"{path}/amend", {})
    assert amended.status_code == 303
    amendment = MINUTES_PATH.match(amended.headers["location"])
    assert amendment and amendment["id"] != minutes_id
    draft = await client.get(amended.headers["location"])
    assert "Amendment (version 2)" in draft.text and f'href="{path}"' in draft.text
    replaced = await client.get(path)
    assert "Replaced by an amendment" in replaced.text and f'href="/minutes/{amendment["id"]}"' in replaced.text
    # Only one amendment at a time: a second is refused, pointing at the open one.
    twice = await post_form(client, f"{path}/amend", {})
    assert twice.status_code == 409 and f'href="/minutes/{amendment["id"]}"' in twice.text


async def test_reading_signed_minutes_without_consent_is_refused_with_the_policys_words(
    client, clinic, meeting
) -> None:
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    path = f"/minutes/{minutes_id}"
    assert (await post_form(client, path, filled(clinic, 1))).status_code == 303
    assert (await post_form(client, f"{path}/finalize", {"version": "2"})).status_code == 303

    refused = await client.get(path)
    assert refused.status_code == 403
    assert "You may not read these minutes" in refused.text
    assert "Theo Therapist is not covered for receiving meeting minutes" in refused.text
    assert f'href="/patients/{clinic.patient.id}/consent"' in refused.text
    assert "Start sertraline" not in refused.text


async def test_the_forms_need_the_csrf_token(client, clinic, meeting) -> None:
    await sign_in(client, "theo@clinic.test")
    opening = f"/meetings/{meeting.id}/occurrences/{occurrence(meeting)}/minutes"
    assert (await client.post(opening, data={}, follow_redirects=False)).status_code == 403
    minutes_id = await open_minutes(client, meeting)
    for suffix, data in (("", filled(clinic, 1)), ("/finalize", {"version": "1"}), ("/amend", {})):
        forged = await client.post(f"/minutes/{minutes_id}{suffix}", data=data, follow_redirects=False)
        assert forged.status_code == 403
    assert (await stored(client, minutes_id))["version"] == 1


async def test_someone_outside_the_meeting_cannot_open_or_write(client, clinic, meeting) -> None:
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    await client.post("/sign-out", headers=api_headers(await csrf_token(client)))
    await sign_in(client, "oscar@clinic.test")
    assert (await client.get(f"/minutes/{minutes_id}")).status_code == 404
    written = await post_form(client, f"/minutes/{minutes_id}", filled(clinic, 1))
    assert written.status_code == 404
    assert (await client.get(f"/minutes/{uuid.uuid4()}")).status_code == 404


async def test_a_malformed_save_is_refused_beside_its_field_and_changes_nothing(client, clinic, meeting) -> None:
    await sign_in(client, "theo@clinic.test")
    minutes_id = await open_minutes(client, meeting)
    refused = await post_form(
        client,
        f"/minutes/{minutes_id}",
        {"version": "1", "measures-0-row": "1", "measures-0-instrument": "phq9", "measures-0-score": "twelve"},
    )
    assert refused.status_code == 400
    assert re.search(r'id="m-measures-0-score-problem">Measure 1, score: give a whole number\.<', refused.text)
    assert "Fix this before the minutes can be signed" not in refused.text
    assert (await stored(client, minutes_id))["version"] == 1
