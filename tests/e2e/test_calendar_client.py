"""A real calendar client (vdirsyncer + khal) subscribes to a person's feed from the running service."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import LiveServer
from tests.support.calendar_client import sync_and_list

pytestmark = pytest.mark.e2e

THERAPIST = "therapist@demo.clinic"


def _sign_in(client: httpx.Client, server: LiveServer) -> dict[str, str]:
    client.get("/sign-in")
    token = client.cookies["conference_csrf"]
    response = client.post(
        "/sign-in", data={"email": THERAPIST, "password": server.password(THERAPIST), "_csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return {"x-csrf-token": token}


def _change_the_demo_meetings(client: httpx.Client, server: LiveServer) -> tuple[list[str], dt.datetime]:
    """Cancel the second case review, move the third, and cancel the joint session."""
    headers = _sign_in(client, server)
    meetings = client.get("/api/v1/meetings", params={"days": 90}).json()
    series = next(m for m in meetings if m["rrule"])
    joint = next(m for m in meetings if m["kind"] == "joint_session")
    originals = [o["recurrence_id"] for o in series["occurrences"]]

    cancelled = client.post(
        f"/api/v1/meetings/{series['id']}/occurrences/cancel",
        headers=headers,
        json={"version": series["version"], "recurrence_id": originals[1]},
    )
    assert cancelled.status_code == 200, cancelled.text
    moved_to = dt.datetime.fromisoformat(originals[2]) + dt.timedelta(days=1, hours=2)
    moved = client.post(
        f"/api/v1/meetings/{series['id']}/occurrences/move",
        headers=headers,
        json={"version": cancelled.json()["version"], "recurrence_id": originals[2], "start": moved_to.isoformat()},
    )
    assert moved.status_code == 200, moved.text
    gone = client.post(f"/api/v1/meetings/{joint['id']}/cancel", headers=headers, json={"version": joint["version"]})
    assert gone.status_code == 200, gone.text

    return originals, moved_to


def test_calendar_client_sees_meetings_the_moved_occurrence_and_the_cancelled_ones(
    live_server: LiveServer, tmp_path: Path
) -> None:
    zone = ZoneInfo(live_server.person(THERAPIST)["time_zone"])
    with httpx.Client(base_url=live_server.base_url, timeout=30) as client:
        originals, moved_to = _change_the_demo_meetings(client, live_server)
    feed_url = live_server.person(THERAPIST)["feed_url"]
    start = dt.datetime.now(zone).date()
    events = sync_and_list(feed_url, tmp_path / "client", start=start, days=80, time_zone=str(zone))

    reviews = sorted((e for e in events if e.title == "Case review"), key=lambda e: e.start)
    expected = [dt.datetime.fromisoformat(o) for i, o in enumerate(originals) if i not in (1, 2)] + [moved_to]
    assert sorted(e.start.astimezone(dt.UTC) for e in reviews) == sorted(e.astimezone(dt.UTC) for e in expected)
    assert all(e.recurring for e in reviews)
    moved_seen = next(e for e in reviews if e.start.astimezone(dt.UTC) == moved_to.astimezone(dt.UTC))
    assert moved_seen.start.astimezone(zone).hour == moved_to.astimezone(zone).hour
    [joint_seen] = [e for e in events if e.title == "Care team meeting"]
    assert joint_seen.status == "CANCELLED"
