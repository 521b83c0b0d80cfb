"""A clinician signs in through the organization's OpenID provider (a real one) in a real browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, StartServer, free_port
from tests.support.oidc_provider import running_oidc_provider

pytestmark = pytest.mark.e2e

SSO_NAME = "Clinic SSO"
PRESCRIBER = "prescriber@demo.clinic"
PATIENT = "Jordan Rivera"


@contextmanager
def service_with_sso(start_server: StartServer, accounts: dict[str, dict[str, object]]) -> Iterator[LiveServer]:
    """The service, configured for single sign-on through a provider that knows ``accounts``.

    The provider must know the service's callback address before the service starts, so the
    service's port is chosen first.
    """
    port = free_port()
    callback = f"http://127.0.0.1:{port}/auth/oidc/callback"
    with running_oidc_provider(redirect_uris=[callback], accounts=accounts) as provider:
        server = start_server(
            {
                "CONFERENCE_OIDC_ISSUER": provider.issuer,
                "CONFERENCE_OIDC_CLIENT_ID": provider.client_id,
                "CONFERENCE_OIDC_CLIENT_SECRET": provider.client_secret,
                "CONFERENCE_OIDC_DISPLAY_NAME": SSO_NAME,
            },
            port=port,
        )
        try:
            yield server
        finally:
            server.stop()


def sign_in_at_provider(page: Page, server: LiveServer, login: str) -> None:
    """From our sign-in page, through the provider's login and consent pages."""
    page.goto(server.url("/sign-in"))
    page.get_by_role("link", name=f"Sign in with {SSO_NAME}").click()

    # The provider's development login form: any password is accepted.
    login_field = page.locator("input[name=login]")
    expect(login_field).to_be_visible()
    login_field.fill(login)
    page.locator("input[name=password]").fill("any-password")
    page.get_by_role("button", name="Sign-in").click()

    page.get_by_role("button", name="Continue").click()  # consent


def test_clinician_signs_in_through_the_provider(start_server: StartServer, page: Page) -> None:
    accounts = {
        "priya": {"sub": "idp-priya-1", "email": PRESCRIBER, "email_verified": True, "name": "Priya Natarajan"},
    }
    with service_with_sso(start_server, accounts) as server:
        sign_in_at_provider(page, server, "priya")

        expect(page).to_have_url(server.url("/"))
        expect(page.get_by_role("heading", name="My patients")).to_be_visible()
        expect(page.get_by_role("main")).to_contain_text(PATIENT)


def test_provider_account_with_no_match_here_is_refused(start_server: StartServer, page: Page) -> None:
    accounts = {
        "stranger": {
            "sub": "idp-stranger-1",
            "email": "stranger@elsewhere.example",
            "email_verified": True,
            "name": "Someone Else",
        },
    }
    with service_with_sso(start_server, accounts) as server:
        with page.expect_response(re.compile(r"/auth/oidc/callback\?")) as callback:
            sign_in_at_provider(page, server, "stranger")

        assert callback.value.status == 403
        expect(page).to_have_url(re.compile(r"^" + re.escape(server.url("/auth/oidc/callback?"))))
        expect(page.get_by_role("main")).to_contain_text("no active account here matches")
        expect(page.get_by_role("main")).not_to_contain_text("Something went wrong")
        expect(page.get_by_role("heading", name="My patients")).to_have_count(0)
