"""The patient signs and revokes a consent from their link; the clinician's page follows at once."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.conftest import LiveServer, new_context
from tests.e2e.test_sign_in import sign_in

pytestmark = pytest.mark.e2e

THERAPIST = "therapist@demo.clinic"
COVERED = re.compile(r"^\s*Covered\s*$")
# Long enough to span a few polls of the status page, short enough to fail fast.
LIVE_UPDATE_MS = 10_000


def recording_cell(page: Page, member: str) -> Locator:
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(member)))
    return row.get_by_role("cell").nth(3)


def test_patient_signs_then_revokes_and_the_clinician_sees_both(live_server: LiveServer, browser: Browser) -> None:
    patient_id = live_server.demo["patient"]["id"]

    clinician = new_context(browser).new_page()
    sign_in(clinician, live_server, THERAPIST, live_server.password(THERAPIST))
    clinician.goto(live_server.url(f"/patients/{patient_id}/consent"))
    expect(clinician.get_by_role("heading", name="Consent", exact=True)).to_be_visible()
    expect(recording_cell(clinician, "Dr. Sam Okafor")).to_contain_text("Not covered")

    patient = new_context(browser).new_page()
    patient.goto(live_server.demo["patient"]["join_link"])
    expect(patient.get_by_role("heading", name=re.compile("Hello"))).to_be_visible()
    patient.get_by_role("link", name="Review and sign a consent").click()
    patient.get_by_label("Record meetings (audio and video)").check()
    patient.get_by_role("button", name="Continue to review").click()
    expect(patient.get_by_role("heading", name="Read and sign")).to_be_visible()
    expect(patient.get_by_role("main")).to_contain_text("record those meetings (audio and video)")
    patient.get_by_label("Type your full name to sign").fill("Jordan Rivera")
    patient.get_by_label("I have read this form and I agree to it").check()
    patient.get_by_role("button", name="Sign", exact=True).click()
    expect(patient.get_by_role("status")).to_contain_text("Your consent is saved")

    # No reload: the page notices the signature by itself.
    expect(recording_cell(clinician, "Dr. Sam Okafor")).to_have_text(COVERED, timeout=LIVE_UPDATE_MS)

    patient.get_by_role("link", name="Revoke…").first.click()
    expect(patient.get_by_role("heading", name="Revoke this consent?")).to_be_visible()
    patient.get_by_role("button", name="Yes, revoke this consent").click()
    expect(patient.get_by_role("status")).to_contain_text("Your consent is revoked")

    expect(recording_cell(clinician, "Dr. Sam Okafor")).to_contain_text("Not covered", timeout=LIVE_UPDATE_MS)
    expect(clinician.locator("#consent-live")).to_contain_text("Revoked")


def test_patient_who_forgets_to_agree_is_told_and_keeps_their_place(live_server: LiveServer, page: Page) -> None:
    page.goto(live_server.demo["patient"]["join_link"])
    page.get_by_role("link", name="Review and sign a consent").click()
    page.get_by_role("button", name="Continue to review").click()
    page.get_by_label("Type your full name to sign").fill("Jordan Rivera")
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to confirm that you agree")
    expect(page.get_by_label("Type your full name to sign")).to_have_value("Jordan Rivera")
