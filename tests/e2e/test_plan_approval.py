"""From minutes to the treatment plan in headless Chromium: the therapist signs minutes proposing a
high-risk medication change, the prescriber and the medical director approve it from their own
browsers, and the plan's next version shows the change to the whole care team; the audit trail covers
every step and its chain verifies."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, StartServer, new_context
from tests.e2e.test_minutes_editor import _all_saved, _wait_until_started
from tests.e2e.test_sign_in import sign_in

MEDICATION = "Quetiapine"


def _clinician(browser: Browser, server: LiveServer, email: str) -> Page:
    page = new_context(browser).new_page()
    sign_in(page, server, email, server.password(email))
    expect(page).to_have_url(server.url("/"))
    return page


def _email(server: LiveServer, team_role: str) -> str:
    return next(p["email"] for p in server.demo["people"] if p["team_role"] == team_role)


def _approve_from_queue(page: Page, server: LiveServer) -> None:
    page.goto(server.url("/approvals"))
    item = page.locator(".queue-item", has_text=MEDICATION)
    expect(item).to_contain_text("High risk")
    item.get_by_role("button", name=re.compile(r"^Approve")).click()
    expect(page.locator(".queue-item", has_text=MEDICATION)).to_have_count(0)


def _audit_trail(server: LiveServer) -> list[tuple[str, str | None, str | None]]:
    with contextlib.closing(sqlite3.connect(server.data_dir / "conference.db")) as db:
        return list(db.execute("SELECT action, actor_id, subject FROM audit_event ORDER BY sequence"))


def test_minutes_become_the_next_plan_version_once_prescriber_and_director_approve(
    start_server: StartServer, browser: Browser
) -> None:
    server = start_server(demo_args=("--meeting-now",))
    patient_id = server.demo["patient"]["id"]
    meeting_id = _wait_until_started(server)
    therapist = _clinician(browser, server, _email(server, "primary_therapist"))
    prescriber = _clinician(browser, server, _email(server, "prescriber"))
    director = _clinician(browser, server, _email(server, "medical_director"))
    case_manager = _clinician(browser, server, _email(server, "case_manager"))
    try:
        # The therapist writes the minutes: a new medication, flagged high-risk, and a risk flag.
        therapist.goto(server.url(f"/meetings/{meeting_id}"))
        therapist.get_by_role("button", name=re.compile(r"^Write minutes")).click()
        expect(therapist).to_have_url(re.compile(r"/minutes/[0-9a-f-]{36}$"))
        minutes_id = therapist.url.rsplit("/", 1)[1]
        attendees = therapist.locator("#m-attendees")
        for number, who in enumerate(("Dr. Sam Okafor (Primary therapist)", "Dr. Priya Natarajan (Prescriber)")):
            attendees.get_by_role("button", name="Add attendee").click()
            attendees.get_by_label("Who").nth(number).select_option(label=who)
            attendees.get_by_label("Minutes present").nth(number).fill("30")
        agenda = therapist.locator("#m-agenda_items")
        agenda.get_by_role("button", name="Add agenda item").click()
        agenda.get_by_label("Title").fill("Sleep and agitation")
        agenda.get_by_label("Discussion").fill("Agitated at night despite sertraline; sleeping four hours.")
        changes = therapist.locator("#m-proposed_changes")
        changes.get_by_label("Kind of change to add").select_option("add_medication")
        changes.get_by_role("button", name="Add plan change").click()
        changes.get_by_label("Medication", exact=True).fill(MEDICATION)
        changes.get_by_label("Dose").fill("25 mg at night")
        changes.get_by_label("Prescriber").select_option(label="Dr. Priya Natarajan (Prescriber)")
        changes.get_by_label("High risk: the medical director must approve it").check()
        _all_saved(therapist)
        therapist.get_by_role("button", name="Finalize…").first.click()
        therapist.get_by_role("button", name="Sign and finalize").click()
        expect(therapist.locator("main")).to_contain_text("These minutes are final")
        therapist.get_by_role("link", name="The plan revision proposed from these minutes").click()
        expect(therapist).to_have_url(re.compile(r"/revisions/[0-9a-f-]{36}$"))
        revision_url = therapist.url
        expect(therapist.locator("main")).to_contain_text(MEDICATION)

        # Every revision needs the primary therapist; the medication, the prescriber; high risk, the director.
        therapist.get_by_role("button", name="Approve", exact=True).click()
        _approve_from_queue(prescriber, server)
        prescriber.goto(revision_url)
        expect(prescriber.locator("main")).to_contain_text("Medical director")
        _approve_from_queue(director, server)

        # Applied: the next version, seen by everyone on the care team.
        for page in (case_manager, prescriber, therapist):
            page.goto(server.url(f"/patients/{patient_id}/plan"))
            main = page.locator("main")
            expect(main).to_contain_text(MEDICATION)
            expect(main).to_contain_text("25 mg at night")
            expect(main).to_contain_text("Version 3")
    finally:
        for page in (therapist, prescriber, director, case_manager):
            page.context.close()

    # Every step is in the audit trail, in order, and the chain verifies.
    trail = _audit_trail(server)
    revision = f"revision:{revision_url.rsplit('/', 1)[1]}"
    steps = [(action, actor) for action, actor, subject in trail if subject in (f"minutes:{minutes_id}", revision)]
    names = [action for action, _actor in steps]
    assert names.index("minutes.finalized") < names.index("plan.revision_proposed") < names.index("plan.approved")
    assert len({actor for action, actor in steps if action == "plan.approved"}) == 3
    assert names.index("plan.revision_applied") > max(i for i, name in enumerate(names) if name == "plan.approved")
    applied_at = next(
        i for i, (action, _a, subject) in enumerate(trail) if (action, subject) == ("plan.revision_applied", revision)
    )
    readers = {actor for action, actor, _subject in trail[applied_at:] if action == "plan.read"}
    assert len(readers) == 3  # the case manager, the prescriber and the therapist read the new version
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFERENCE_")}
    env["CONFERENCE_DATA_DIR"] = str(server.data_dir)
    verified = subprocess.run(
        [sys.executable, "-m", "conference", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
