"""Three people meet in headless Chromium (fake camera and microphone) through the real service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import LiveServer, StartServer, new_context
from tests.e2e.test_sign_in import sign_in
from tests.support.coturn import Turn, running_coturn
from tests.support.live_room import ROOM_ENV, narrow_consent_to, staff_email

MEDIA_TIMEOUT_MS = 30_000


class Meeting:
    def __init__(self, server: LiveServer, browser: Browser) -> None:
        self.server = server
        self.browser = browser
        self.contexts: list[BrowserContext] = []

    def page(self) -> Page:
        context = new_context(self.browser)
        self.contexts.append(context)
        return context.new_page()

    def clinician(self, team_role: str) -> Page:
        page = self.page()
        email = staff_email(self.server.demo, team_role)
        sign_in(page, self.server, email, self.server.password(email))
        page.goto(self.server.demo["meeting_now"]["room_url"])
        return page

    def patient(self) -> Page:
        page = self.page()
        page.goto(self.server.demo["meeting_now"]["patient_join_link"])
        expect(page).to_have_url(self.server.demo["meeting_now"]["room_url"])
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def _join(page: Page, state: str) -> None:
    page.locator("#join-button").click()
    expect(page.locator("#room")).to_have_attribute("data-state", state)


def _sees_and_hears_everyone_else(page: Page, others: int) -> None:
    remote = page.locator(".tile:not([data-self])")
    expect(remote).to_have_count(others, timeout=MEDIA_TIMEOUT_MS)
    for index in range(others):
        tile = remote.nth(index)
        expect(tile).to_have_attribute("data-video-frames", re.compile(r"^[1-9]\d*$"), timeout=MEDIA_TIMEOUT_MS)
        expect(tile).to_have_attribute("data-audio-packets", re.compile(r"^[1-9]\d*$"), timeout=MEDIA_TIMEOUT_MS)
    width = page.locator(".tile:not([data-self]) video").first.evaluate("video => video.videoWidth")
    assert width > 0  # decoded, not just received


def _labels_start_with_the_visible_words(page: Page) -> int:
    """WCAG 2.5.3 (label in name): a visible button named apart from its words is named starting
    with them. Returns how many such buttons there were."""
    labelled, offenders = page.locator("#room").evaluate(
        """room => {
          const named = [...room.querySelectorAll("button[aria-label]")]
            .filter((b) => b.getClientRects().length)
            .map((b) => [b.textContent.replace(/\\s+/g, " ").trim(), b.getAttribute("aria-label")]);
          return [named.length, named.filter(([words, label]) => !label.startsWith(words))];
        }"""
    )
    assert offenders == []
    return int(labelled)


def _meet(server: LiveServer, browser: Browser) -> None:
    meeting = Meeting(server, browser)
    try:
        therapist = meeting.clinician("primary_therapist")
        _join(therapist, "in-room")

        patient = meeting.patient()
        _join(patient, "lobby")
        expect(patient.locator("#lobby-message")).to_contain_text("Your care team will let you in shortly")

        waiting = therapist.locator("#lobby-panel li[data-participant]")
        expect(waiting).to_have_count(1)
        expect(waiting.get_by_role("button", name=re.compile(r"^Decline: \S"))).to_be_visible()
        assert _labels_start_with_the_visible_words(therapist) >= 2
        waiting.get_by_role("button", name=re.compile(r"^Admit: \S")).click()
        expect(patient.locator("#room")).to_have_attribute("data-state", "in-room")

        prescriber = meeting.clinician("prescriber")
        _join(prescriber, "in-room")

        for page in (therapist, patient, prescriber):
            _sees_and_hears_everyone_else(page, 2)

        # Hosts are marked, and a host's controls are on the patient's tile only, named by their words.
        for host, other_host in ((therapist, prescriber), (prescriber, therapist)):
            other_id = other_host.locator(".tile[data-self]").get_attribute("data-participant")
            peer = host.locator(f'.tile[data-participant="{other_id}"]')
            expect(peer).to_have_attribute("data-host", "true")
            expect(peer.locator(".tile-role")).to_contain_text("(host)")
            expect(peer.locator("button")).to_have_count(0)
            patient_tile = host.locator('.tile[data-role="Patient"]')
            expect(patient_tile.get_by_role("button", name=re.compile(r"^Send to lobby: \S"))).to_be_visible()
            expect(patient_tile.get_by_role("button", name=re.compile(r"^Ask to mute: \S"))).to_be_visible()
            assert _labels_start_with_the_visible_words(host) >= 2
        expect(patient.locator(".tile[data-self] .tile-role")).not_to_contain_text("host")
        expect(patient.locator(".tile:not([data-self]) button")).to_have_count(0)

        # The therapist shares a screen: the others decode it as its own tile, which goes when it stops.
        therapist_id = therapist.locator(".tile[data-self]").get_attribute("data-participant")
        therapist.locator("#screen-button").click()
        expect(therapist.locator("#screen-button")).to_have_attribute("aria-pressed", "true")
        for page in (patient, prescriber):
            screen = page.locator(f'figure.screen-tile[data-screen-of="{therapist_id}"]')
            expect(screen).to_have_attribute("data-video-frames", re.compile(r"^[1-9]\d*$"), timeout=MEDIA_TIMEOUT_MS)
            assert screen.locator("video").evaluate("video => video.videoWidth") > 0
        therapist.locator("#screen-button").click()
        for page in (patient, prescriber):
            expect(page.locator("figure.screen-tile")).to_have_count(0, timeout=MEDIA_TIMEOUT_MS)

        # Back to the lobby, and admitted again.
        therapist.locator('.tile[data-role="Patient"] button[data-action="send-to-lobby"]').click()
        expect(patient.locator("#room")).to_have_attribute("data-state", "lobby")
        expect(therapist.locator(".tile:not([data-self])")).to_have_count(1)
        therapist.locator('#lobby-panel button[data-action="admit"]').click()
        expect(patient.locator("#room")).to_have_attribute("data-state", "in-room")
        _sees_and_hears_everyone_else(patient, 2)

        # The patient's consent changes: it no longer covers the prescriber, who is removed at once.
        narrow_consent_to(server.base_url, server.demo, ["primary_therapist", "case_manager"])
        expect(prescriber.locator("#room")).to_have_attribute("data-state", "ended")
        expect(prescriber.locator("#room-ended")).to_contain_text("consent")
        expect(therapist.locator(".tile:not([data-self])")).to_have_count(1)
        expect(patient.locator(".tile:not([data-self])")).to_have_count(1)
        expect(patient.locator("#room")).to_have_attribute("data-state", "in-room")
    finally:
        meeting.close()


def test_patient_and_two_clinicians_meet(start_server: StartServer, browser: Browser) -> None:
    server = start_server(ROOM_ENV, demo_args=("--meeting-now",))
    _meet(server, browser)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Turn]:
    with running_coturn(tmp_path) as turn:
        yield turn


def test_the_same_meeting_with_relay_only_ice_through_coturn(
    start_server: StartServer, browser: Browser, coturn: Turn, tmp_path: Path
) -> None:
    server = start_server(
        {
            **ROOM_ENV,
            "CONFERENCE_TURN_URLS": coturn.url,
            "CONFERENCE_TURN_SECRET": coturn.secret,
            "CONFERENCE_ICE_TRANSPORT_POLICY": "relay",
        },
        demo_args=("--meeting-now",),
    )
    _meet(server, browser)
    # Every browser connection (three people, two each) was relayed with a credential coturn accepted.
    log = (tmp_path / "turnserver.log").read_text()
    assert log.count("ALLOCATE processed, success") >= 6
