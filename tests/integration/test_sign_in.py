"""Sign-in with a password: sessions, rate limits, CSRF, sign-out, timeouts."""

from __future__ import annotations

import time

import pytest

from conference.auth import sessions
from tests.support.clinic import PASSWORD, csrf_token, post_form, sign_in


async def test_health_answers_json_with_database_state(client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_every_response_carries_the_security_headers(client) -> None:
    for path in ("/sign-in", "/health", "/no-such-page"):
        headers = (await client.get(path)).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "camera=(self)" in headers["permissions-policy"]
        assert "microphone=(self)" in headers["permissions-policy"]


async def test_signed_out_visitor_is_sent_to_sign_in(client) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=%2F")


async def test_clinician_signs_in_and_sees_only_own_patients(client, clinic) -> None:
    await sign_in(client, "theo@clinic.test")
    page = await client.get("/")
    assert page.status_code == 200
    assert "Pat Patient" in page.text
    assert "Quinn Other" not in page.text


async def test_wrong_password_is_refused_with_a_message(client, clinic) -> None:
    response = await post_form(client, "/sign-in", {"email": "theo@clinic.test", "password": "not the password"})
    assert response.status_code == 401
    assert "do not match an active account" in response.text
    assert "conference_session" not in response.cookies


async def test_missing_password_names_the_field(client, clinic) -> None:
    response = await post_form(client, "/sign-in", {"email": "theo@clinic.test", "password": ""})
    assert response.status_code == 400
    assert "Enter your password" in response.text


async def test_form_without_csrf_token_is_refused(client, clinic) -> None:
    await csrf_token(client)
    response = await client.post("/sign-in", data={"email": "theo@clinic.test", "password": PASSWORD})
    assert response.status_code == 403


async def test_account_is_locked_after_repeated_failures_even_with_the_right_password(client, clinic) -> None:
    for _ in range(5):
        response = await post_form(client, "/sign-in", {"email": "theo@clinic.test", "password": "wrong guess"})
        assert response.status_code == 401
    response = await post_form(client, "/sign-in", {"email": "theo@clinic.test", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many sign-in attempts for this account" in response.text
    assert int(response.headers["retry-after"]) > 0
    # Another account from the same address is still allowed: the per-address limit is higher.
    await sign_in(client, "priya@clinic.test")


async def test_session_id_changes_at_sign_in_and_dies_at_sign_out(client, clinic) -> None:
    await client.get("/sign-in")
    before = client.cookies.get("conference_session")
    await sign_in(client, "theo@clinic.test")
    signed_in_id = client.cookies.get("conference_session")
    assert signed_in_id and signed_in_id != before
    response = await post_form(client, "/sign-out", {})
    assert response.status_code == 303
    # The browser drops what pages kept in its storage (unsent minutes), too.
    assert response.headers["clear-site-data"] == '"storage"'
    client.cookies.set("conference_session", signed_in_id)
    assert (await client.get("/", follow_redirects=False)).status_code == 303


@pytest.mark.parametrize(
    ("advance", "expected"),
    [(16 * 60, "15 minutes without activity"), (14 * 60, None)],
)
async def test_idle_timeout_signs_out(client, clinic, monkeypatch, advance, expected) -> None:
    await sign_in(client, "theo@clinic.test")
    now = time.time()
    monkeypatch.setattr(sessions.time, "time", lambda: now + advance)
    response = await client.get("/", follow_redirects=False)
    if expected is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 303
        assert "without+activity" in response.headers["location"]


async def test_absolute_lifetime_ends_an_active_session(client, clinic, monkeypatch) -> None:
    await sign_in(client, "theo@clinic.test")
    start = time.time()
    # Active every ten minutes, so the idle limit never triggers; the 12-hour limit still does.
    for step in range(1, 12 * 6 + 2):
        monkeypatch.setattr(sessions.time, "time", lambda step=step: start + step * 600)
        response = await client.get("/", follow_redirects=False)
        if response.status_code == 303:
            break
    assert response.status_code == 303
    assert "12+hours" in response.headers["location"]
    assert (step - 1) * 600 < 12 * 3600 <= step * 600


async def test_next_parameter_cannot_redirect_off_site(client, clinic) -> None:
    response = await post_form(
        client, "/sign-in", {"email": "theo@clinic.test", "password": PASSWORD, "next": "//evil.example/"}
    )
    assert response.headers["location"] == "/"


async def test_address_limit_stops_guessing_across_many_accounts(settings, clinic) -> None:
    import dataclasses

    from litestar.testing import AsyncTestClient

    from conference.app import create_app
    from tests.conftest import BASE_URL

    app = create_app(dataclasses.replace(settings, sign_in_attempts_per_address=3))
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        for email in ("a@clinic.test", "b@clinic.test", "c@clinic.test"):
            assert (await post_form(client, "/sign-in", {"email": email, "password": "guess"})).status_code == 401
        blocked = await post_form(client, "/sign-in", {"email": "theo@clinic.test", "password": PASSWORD})
        assert blocked.status_code == 429
        assert "from this network" in blocked.text
