"""A clinician signs in with email and password in a real browser, and signs out again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, new_context

pytestmark = pytest.mark.e2e

THERAPIST = "therapist@demo.clinic"
PATIENT = "Jordan Rivera"
PHONE = {"width": 390, "height": 844}


def sign_in(page: Page, server: LiveServer, email: str, password: str) -> None:
    page.goto(server.url("/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def expect_home_with_demo_patient(page: Page, server: LiveServer) -> None:
    expect(page).to_have_url(server.url("/"))
    expect(page.get_by_role("heading", name="My patients")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(PATIENT)


def expect_sign_in_page(page: Page) -> None:
    expect(page).to_have_url(re.compile(r"/sign-in(\?|$)"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_visible()


def test_clinician_signs_in_sees_their_patients_and_signs_out(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    sign_in(page, live_server, THERAPIST, live_server.password(THERAPIST))

    expect_home_with_demo_patient(page, live_server)
    screenshot = tmp_path / "home-signed-in.png"
    page.screenshot(path=screenshot, full_page=True)
    print(f"screenshot: {screenshot}")

    page.get_by_role("button", name="Sign out").click()

    expect_sign_in_page(page)
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    # The session is really over: the home page sends the browser back to sign in.
    page.goto(live_server.url("/"))
    expect_sign_in_page(page)


def test_wrong_password_shows_the_error_and_stays_on_sign_in(live_server: LiveServer, page: Page) -> None:
    sign_in(page, live_server, THERAPIST, "not-the-password-at-all")

    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect_sign_in_page(page)
    expect(page.get_by_label("Email")).to_have_value(THERAPIST)
    expect(page.get_by_role("heading", name="My patients")).to_have_count(0)


def test_sign_in_and_home_pages_on_a_phone(live_server: LiveServer, browser: Browser, tmp_path: Path) -> None:
    """Screenshots at a phone's viewport, for a person to look at (run with -s to see the paths)."""
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(live_server.url("/sign-in"))
        expect_sign_in_page(page)
        sign_in_shot = tmp_path / "sign-in-phone.png"
        page.screenshot(path=sign_in_shot, full_page=True)
        print(f"screenshot: {sign_in_shot}")

        sign_in(page, live_server, THERAPIST, live_server.password(THERAPIST))
        expect_home_with_demo_patient(page, live_server)
        home_shot = tmp_path / "home-phone.png"
        page.screenshot(path=home_shot, full_page=True)
        print(f"screenshot: {home_shot}")
    finally:
        context.close()
