"""Minutes in headless Chromium: the draft saves itself as the clinician types, an unsent copy
survives a dropped connection, and two clinicians editing at once reconcile without losing anything."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, StartServer, new_context
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e

THERAPIST = "therapist@demo.clinic"
PRESCRIBER = "prescriber@demo.clinic"
SAVED = re.compile(r"Saved \d\d:\d\d")


def _wait_until_started(server: LiveServer) -> str:
    """The demo's joint session starts within a minute of the demo; minutes open once it has."""
    meeting_id, occurrence = server.demo["meeting_now"]["room_url"].rsplit("/", 2)[-2:]
    start = dt.datetime.strptime(occurrence, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    ahead = (start - dt.datetime.now(dt.UTC)).total_seconds()
    if ahead > 0:
        time.sleep(ahead + 1)
    return meeting_id


def _all_saved(page: Page) -> None:
    """Wait until the page says everything typed is on the server."""
    expect(page.locator("#minutes-form")).to_have_attribute("data-save-state", "saved")
    expect(page.locator("#autosave-status")).to_have_text(SAVED)


def _clinician(browser: Browser, server: LiveServer, email: str) -> Page:
    page = new_context(browser).new_page()
    sign_in(page, server, email, server.password(email))
    expect(page).to_have_url(server.url("/"))
    return page


def _content(page: Page, minutes_url: str) -> dict:  # type: ignore[type-arg]
    response = page.request.get(minutes_url.replace("/minutes/", "/api/v1/minutes/"))
    assert response.ok, response.text()
    return dict(response.json()["content"])


def test_minutes_save_as_typed_and_two_clinicians_reconcile(start_server: StartServer, browser: Browser) -> None:
    server = start_server(demo_args=("--meeting-now",))
    meeting_id = _wait_until_started(server)
    therapist = _clinician(browser, server, THERAPIST)
    prescriber = _clinician(browser, server, PRESCRIBER)
    try:
        therapist.goto(server.url(f"/meetings/{meeting_id}"))
        therapist.get_by_role("button", name=re.compile(r"^Write minutes")).click()
        expect(therapist).to_have_url(re.compile(r"/minutes/[0-9a-f-]{36}$"))
        minutes_url = therapist.url

        # Typing saves the draft by itself; a reload shows what was typed.
        agenda = therapist.locator("#m-agenda_items")
        agenda.get_by_role("button", name="Add agenda item").click()
        agenda.get_by_label("Title").fill("Sleep and mood")
        agenda.get_by_label("Discussion").fill("Sleeping better; mood still low.")
        _all_saved(therapist)
        changes = therapist.locator("#m-proposed_changes")
        changes.get_by_label("Kind of change to add").select_option("add_medication")
        changes.get_by_role("button", name="Add plan change").click()
        changes.get_by_label("Medication", exact=True).fill("sertraline")
        changes.get_by_label("Dose").fill("50 mg daily")
        changes.get_by_label("Prescriber").select_option(label="Dr. Priya Natarajan (Prescriber)")
        changes.get_by_label("High risk: the medical director must approve it").check()
        expect(changes.get_by_label("Whom the patient calls")).to_be_hidden()
        _all_saved(therapist)
        therapist.reload()
        expect(therapist.locator("#m-agenda_items").get_by_label("Title")).to_have_value("Sleep and mood")
        expect(therapist.locator("#m-proposed_changes").get_by_label("Dose")).to_have_value("50 mg daily")
        [change] = _content(therapist, minutes_url)["proposed_changes"]
        assert change["op"] == "add_medication" and change["dose"] == "50 mg daily" and change["high_risk"] is True

        # A dropped connection loses nothing: the copy on this device is kept, and saved once it is back.
        api = f"**{minutes_url.replace(server.base_url, '/api/v1')}"
        therapist.context.route(api, lambda route: route.abort())
        therapist.locator("#m-agenda_items").get_by_label("Discussion").fill("Sleeping better; mood low; appetite up.")
        expect(therapist.locator("#autosave-status")).to_contain_text("Not saved — retrying")
        assert "appetite up" in therapist.evaluate("Object.values(localStorage).join()")
        assert "appetite up" not in _content(prescriber, minutes_url)["agenda_items"][0]["discussion"]
        therapist.context.unroute(api)
        _all_saved(therapist)
        assert "appetite up" in _content(prescriber, minutes_url)["agenda_items"][0]["discussion"]
        assert therapist.evaluate("localStorage.length") == 0

        # A tab closed before its last change reached the server: the copy is offered back on opening.
        version = therapist.locator("#minutes-form input[name=version]").input_value()
        unsent = _content(therapist, minutes_url)
        unsent["agenda_items"][0]["title"] = "Sleep, mood and appetite"
        therapist.evaluate(
            "([key, copy]) => localStorage.setItem(key, JSON.stringify(copy))",
            [
                f"minutes:{minutes_url.rsplit('/', 1)[1]}:{version}",
                {"version": int(version), "content": unsent, "at": 0},
            ],
        )
        therapist.reload()
        expect(therapist.locator("#restore-offer")).to_be_visible()
        therapist.get_by_role("button", name="Restore my changes").click()
        _all_saved(therapist)
        assert _content(therapist, minutes_url)["agenda_items"][0]["title"] == "Sleep, mood and appetite"

        # Two clinicians on the same draft: the second to save sees both versions and chooses.
        prescriber.goto(minutes_url)
        expect(prescriber.locator("#m-agenda_items").get_by_label("Title")).to_have_value("Sleep, mood and appetite")
        therapist.locator("#m-agenda_items").get_by_label("Discussion").fill("Agreed to try sertraline.")
        _all_saved(therapist)

        decisions = prescriber.locator("#m-decisions")
        decisions.get_by_role("button", name="Add decision").click()
        decisions.get_by_label("Decision").fill("Start sertraline 50 mg daily; review in four weeks.")
        conflict = prescriber.locator("#conflict")
        expect(conflict).to_be_visible()
        expect(prescriber.locator("#autosave-status")).to_contain_text("someone else saved first")
        agenda_choice = conflict.locator(".compare-section", has_text="Agenda")
        expect(agenda_choice).to_contain_text("Agreed to try sertraline.")  # theirs
        expect(agenda_choice).to_contain_text("Sleeping better; mood low; appetite up.")  # the prescriber's
        decision_choice = conflict.locator(".compare-section", has_text="Decisions")
        expect(decision_choice).to_contain_text("Start sertraline 50 mg daily")
        expect(conflict.locator(".compare-section")).to_have_count(2)
        assert _content(prescriber, minutes_url)["decisions"] == []  # nothing saved over theirs yet

        agenda_choice.get_by_role("button", name="Use theirs").click()
        expect(prescriber.locator("#m-agenda_items").get_by_label("Discussion")).to_have_value(
            "Agreed to try sertraline."
        )
        decision_choice.get_by_role("button", name="Keep mine").click()
        conflict.get_by_role("button", name="Save with these choices").click()
        expect(conflict).to_be_hidden()
        _all_saved(prescriber)

        content = _content(prescriber, minutes_url)
        assert content["agenda_items"][0]["discussion"] == "Agreed to try sertraline."
        assert content["decisions"] == ["Start sertraline 50 mg daily; review in four weeks."]
        assert content["proposed_changes"][0]["name"] == "sertraline"
        therapist.reload()
        expect(therapist.locator("#m-decisions").get_by_label("Decision")).to_have_value(
            "Start sertraline 50 mg daily; review in four weeks."
        )

        # Finalize: what is missing is shown beside its field; once fixed, the minutes are signed.
        therapist.get_by_role("button", name="Finalize…").first.click()
        expect(therapist).to_have_url(re.compile(r"/finalize$"))
        expect(therapist.locator("#m-attendees")).to_contain_text("List who attended the meeting.")
        attendees = therapist.locator("#m-attendees")
        attendees.get_by_role("button", name="Add attendee").click()
        attendees.get_by_label("Who").select_option(label="Dr. Sam Okafor (Primary therapist)")
        _all_saved(therapist)
        therapist.get_by_role("button", name="Finalize…").first.click()
        therapist.get_by_role("button", name="Sign and finalize").click()
        expect(therapist.get_by_role("status")).to_contain_text("Signed. These minutes are final.")
        expect(therapist.get_by_role("main")).to_contain_text("Content hash (SHA-256)")
    finally:
        therapist.context.close()
        prescriber.context.close()
