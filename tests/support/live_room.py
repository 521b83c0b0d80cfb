"""Signing people in to a live service over HTTP and joining its rooms with headless participants."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

ROOM_ENV = {
    # The demo's "meeting now" starts within minutes; these keep a test's room short-fused and on loopback.
    "CONFERENCE_MEDIA_ADDRESSES": "127.0.0.1",
    "CONFERENCE_ROOM_HEARTBEAT_SECONDS": "2",
    "CONFERENCE_ROOM_RESUME_SECONDS": "4",
}


def staff_email(demo: dict[str, Any], team_role: str) -> str:
    """The demo clinic's member of staff in this care-team role."""
    return str(next(person["email"] for person in demo["people"] if person["team_role"] == team_role))


def staff_cookies(base_url: str, email: str, password: str) -> dict[str, str]:
    """The cookies of a member of staff who signed in."""
    client = staff_api(base_url, email, password)
    try:
        return dict(client.cookies.items())
    finally:
        client.close()


def patient_cookies(base_url: str, link: str) -> tuple[dict[str, str], str]:
    """The cookies of a patient who opened their join link, and where the link sent them."""
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10.0) as client:
        response = client.get(link, follow_redirects=False)
        assert response.status_code == 303, response.text
        return dict(client.cookies.items()), response.headers["location"]


def signal_url(base_url: str, room_url: str) -> str:
    path = room_url.removeprefix(base_url)
    return f"ws://{base_url.split('://', 1)[1]}/api/v1{path}/signal"


def staff_api(base_url: str, email: str, password: str) -> httpx.Client:
    """A signed-in HTTP client for the JSON API (carries the CSRF header); close it when done."""
    client = httpx.Client(base_url=base_url, trust_env=False, timeout=10.0)
    client.get("/sign-in")
    token = client.cookies["conference_csrf"]
    response = client.post("/sign-in", data={"email": email, "password": password, "_csrf_token": token})
    assert response.status_code == 303, response.text
    client.headers["x-csrf-token"] = token
    return client


def narrow_consent_to(base_url: str, demo: dict[str, Any], team_roles: list[str]) -> None:
    """As the demo therapist, record a consent covering only ``team_roles`` for joint sessions, then
    revoke the broader ones.

    Whoever else was covered loses coverage at that moment, as if the patient had changed their mind.
    """
    email = staff_email(demo, "primary_therapist")
    password = next(person["password"] for person in demo["people"] if person["email"] == email)
    patient_id = demo["patient"]["id"]
    api = staff_api(base_url, email, password)
    try:
        _narrow(api, patient_id, team_roles)
    finally:
        api.close()


def _narrow(api: httpx.Client, patient_id: str, team_roles: list[str]) -> None:
    before = api.get(f"/api/v1/patients/{patient_id}/consents")
    assert before.status_code == 200, before.text
    signed = api.post(
        f"/api/v1/patients/{patient_id}/consents",
        json={
            "terms": {"provisions": [{"purposes": ["joint_session"], "team_roles": team_roles}]},
            "signer_name": "Demo Patient",
            "signed_on": dt.date.today().isoformat(),
            "attest": True,
        },
    )
    assert signed.status_code == 201, signed.text
    for consent in before.json():
        if consent["status"] == "active":
            revoked = api.post(f"/api/v1/consents/{consent['id']}/revocation", json={"revoked_by": "patient"})
            assert revoked.status_code == 200, revoked.text
