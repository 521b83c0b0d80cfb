"""Connecting an external calendar: its busy time blocks slots; a broken one says so and breaks nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litestar.testing import AsyncTestClient

from conference.app import create_app
from conference.db import utcnow
from conference.scheduling.availability import refresh_due
from tests.conftest import BASE_URL
from tests.support.clinic import api_sign_in


class _Calendars(BaseHTTPRequestHandler):
    bodies: dict[str, bytes] = {}

    def do_GET(self) -> None:
        body = self.bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def calendar_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Calendars)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _busy_day(day: dt.date) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:a\r\n"
        f"DTSTART:{day:%Y%m%d}T000000Z\r\nDTEND:{day + dt.timedelta(days=1):%Y%m%d}T000000Z\r\n"
        "SUMMARY:Private\r\nDTSTAMP:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.fixture
async def client_allowing_local_calendars(settings) -> Iterator[AsyncTestClient]:  # type: ignore[no-untyped-def,misc]
    app = create_app(dataclasses.replace(settings, allow_private_calendar_hosts=True))
    async with AsyncTestClient(app, base_url=BASE_URL) as client:
        yield client


async def test_external_busy_time_blocks_slots(client_allowing_local_calendars, clinic, calendar_server) -> None:
    client = client_allowing_local_calendars
    headers = await api_sign_in(client, "theo@clinic.test")
    query = {"participants": [{"person_id": str(clinic.therapist.id)}], "duration_minutes": 60, "days": 7}
    first_day = dt.datetime.fromisoformat(
        (await client.post("/api/v1/slots", json=query, headers=headers)).json()[0]["start"]
    ).date()
    _Calendars.bodies["/mine.ics"] = _busy_day(first_day)
    connected = await client.put(
        "/api/v1/me/external-calendar", json={"url": f"{calendar_server}/mine.ics"}, headers=headers
    )
    assert connected.status_code == 200, connected.text
    assert connected.json()["external_calendar"]["status"] == "ok"
    slots = (await client.post("/api/v1/slots", json=query, headers=headers)).json()
    assert all(dt.datetime.fromisoformat(slot["start"]).date() != first_day for slot in slots)
    assert "Private" not in connected.text


@pytest.mark.parametrize(
    ("url", "body", "words"),
    [
        ("ftp://calendar.example.org/x.ics", None, ""),
        ("{server}/broken.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not a date\r\n", ""),
        ("{server}/missing.ics", None, "404"),
    ],
)
async def test_a_bad_calendar_is_refused_with_a_message(
    client_allowing_local_calendars, clinic, calendar_server, url, body, words
) -> None:
    client = client_allowing_local_calendars
    headers = await api_sign_in(client, "theo@clinic.test")
    if body is not None:
        _Calendars.bodies["/broken.ics"] = body
    response = await client.put(
        "/api/v1/me/external-calendar", json={"url": url.format(server=calendar_server)}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["field"] == "url" and words in response.json()["detail"]
    assert (await client.get("/api/v1/me/availability")).json()["external_calendar"] is None


async def test_a_calendar_that_breaks_later_keeps_its_busy_time_and_says_so(
    client_allowing_local_calendars, clinic, calendar_server, engine, settings
) -> None:
    client = client_allowing_local_calendars
    headers = await api_sign_in(client, "theo@clinic.test")
    _Calendars.bodies["/later.ics"] = _busy_day(utcnow().date() + dt.timedelta(days=2))
    await client.put("/api/v1/me/external-calendar", json={"url": f"{calendar_server}/later.ics"}, headers=headers)
    del _Calendars.bodies["/later.ics"]
    later = dataclasses.replace(settings, allow_private_calendar_hosts=True, external_calendar_refresh_minutes=1)
    from sqlalchemy import update

    from conference.scheduling.models import ExternalCalendar

    async with engine.begin() as connection:
        await connection.execute(update(ExternalCalendar).values(last_attempt_at=utcnow() - dt.timedelta(hours=1)))
    assert await refresh_due(engine, later) == 1
    status = (await client.get("/api/v1/me/availability")).json()["external_calendar"]
    assert status["status"] == "error" and "404" in status["message"]
    assert status["busy_intervals"] == 1
    query = {"participants": [{"person_id": str(clinic.therapist.id)}], "duration_minutes": 60, "days": 7}
    assert (await client.post("/api/v1/slots", json=query, headers=headers)).status_code == 200
