"""A clinician books a joint session from suggested times in Chromium; invitations arrive by SMTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, StartServer
from tests.e2e.test_sign_in import sign_in
from tests.support.smtp import Inbox, calendar_part, smtp_server

pytestmark = pytest.mark.e2e

THERAPIST = "therapist@demo.clinic"
PRESCRIBER = "prescriber@demo.clinic"
PATIENT_EMAIL = "jordan@demo.example"


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as running:
        yield running


def _wait_for(inbox: Inbox, address: str, count: int, timeout: float = 20.0) -> list:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(inbox.to(address)) >= count:
            return inbox.to(address)
        time.sleep(0.2)
    raise AssertionError(f"{address} received {len(inbox.to(address))} messages, expected {count}")


def test_book_a_joint_session_from_suggested_times(
    start_server: StartServer, page: Page, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    server: LiveServer = start_server(
        {
            "CONFERENCE_SMTP_HOST": "127.0.0.1",
            "CONFERENCE_SMTP_PORT": str(port),
            "CONFERENCE_SMTP_STARTTLS": "false",
            "CONFERENCE_MAIL_POLL_SECONDS": "1",
        }
    )
    patient_id = server.demo["patient"]["id"]
    # Whatever the demo queued on its own goes out first; count only what booking sends.
    time.sleep(2)
    before_prescriber, before_patient = len(inbox.to(PRESCRIBER)), len(inbox.to(PATIENT_EMAIL))

    sign_in(page, server, THERAPIST, server.password(THERAPIST))
    page.goto(server.url(f"/schedule?patient_id={patient_id}"))
    page.get_by_label("Joint session (the patient attends)").check()
    page.get_by_label("Dr. Priya Natarajan", exact=False).first.check()
    page.get_by_role("button", name="Find times").click()
    expect(page.get_by_role("main")).to_contain_text("Consent covers everyone chosen")
    page.get_by_role("button", name="Book").first.click()
    expect(page.get_by_role("status")).to_contain_text("Booked")

    invitations = _wait_for(inbox, PRESCRIBER, before_prescriber + 1)[before_prescriber:]
    method, body = calendar_part(invitations[-1])
    assert method == "REQUEST" and "METHOD:REQUEST" in body and "SEQUENCE:0" in body
    patient_mail = _wait_for(inbox, PATIENT_EMAIL, before_patient + 1)[-1]
    assert calendar_part(patient_mail)[0] == "REQUEST"
    assert "/join/" in patient_mail.get_body(("plain",)).get_content()
    assert "Jordan" not in str(invitations[-1]["Subject"])

    page.get_by_text("Cancel the meeting").click()
    page.get_by_role("button", name="Cancel this meeting").click()
    expect(page.get_by_role("status")).to_contain_text("ancelled")
    method, body = calendar_part(_wait_for(inbox, PRESCRIBER, before_prescriber + 2)[-1])
    assert method == "CANCEL" and "STATUS:CANCELLED" in body and "SEQUENCE:1" in body
