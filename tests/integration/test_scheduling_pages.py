"""The scheduling pages without a browser: calendar, meeting page, answers, feed settings, outbox files."""

from __future__ import annotations

import email
import email.policy
import re

from conference.mail import deliver_pending
from tests.integration.test_scheduling import booking, give_consent, next_weekday_at
from tests.support.clinic import api_sign_in, post_form


async def test_calendar_and_meeting_pages_show_a_booked_meeting(client, clinic, session) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    start = next_weekday_at(10)
    meeting = (await client.post("/api/v1/meetings", json=booking(clinic, start), headers=headers)).json()
    week = await client.get("/calendar", params={"week": start.date().isoformat()})
    assert week.status_code == 200
    assert "Case review" in week.text and f"/meetings/{meeting['id']}" in week.text
    page = await client.get(f"/meetings/{meeting['id']}")
    assert page.status_code == 200
    assert "Priya Prescriber" in page.text and "Pat Patient" not in page.text


async def test_a_participant_answers_from_the_meeting_page(client, clinic, session) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    meeting = (await client.post("/api/v1/meetings", json=booking(clinic, next_weekday_at(10)), headers=headers)).json()
    await client.post("/sign-out", headers=headers)
    await api_sign_in(client, "priya@clinic.test")
    answered = await post_form(client, f"/meetings/{meeting['id']}/response", {"response": "tentative"})
    assert answered.status_code == 303
    participants = (await client.get(f"/api/v1/meetings/{meeting['id']}")).json()["participants"]
    assert next(p for p in participants if p["name"] == "Priya Prescriber")["response"] == "tentative"


async def test_feed_address_is_shown_once_and_replacing_it_kills_the_old_one(client, clinic) -> None:
    await api_sign_in(client, "theo@clinic.test")
    created = await post_form(client, "/settings/calendar/feed", {"action": "rotate"})
    assert created.status_code == 200
    url = re.search(r"http://testserver\.local(/calendar/[A-Za-z0-9_-]+\.ics)", created.text)
    assert url, "the new address is shown"
    assert (await client.get(url.group(1))).status_code == 200
    later = await client.get("/settings/calendar")
    assert url.group(1) not in later.text
    await post_form(client, "/settings/calendar/feed", {"action": "rotate"})
    assert (await client.get(url.group(1))).status_code == 404


async def test_without_smtp_each_message_becomes_an_eml_file(client, clinic, session, engine, settings) -> None:
    await give_consent(session, clinic)
    headers = await api_sign_in(client, "theo@clinic.test")
    await client.post("/api/v1/meetings", json=booking(clinic, next_weekday_at(10)), headers=headers)
    assert await deliver_pending(engine, settings) == 1
    assert await deliver_pending(engine, settings) == 0
    [path] = list(settings.outbox_dir.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert "priya@clinic.test" in str(message["To"])
    assert any(part.get_content_type() == "text/calendar" for part in message.walk())
