"""The calendar-client harness works end to end on a static feed, without the application.

A stdlib HTTP server on 127.0.0.1 serves hand-written iCalendar; vdirsyncer subscribes to it and
khal lists it. Missing tools are a failure (run scripts/lib/calendar-tools.sh), never a skip.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.support.calendar_client import ClientEvent, sync_and_list

NEW_YORK = ZoneInfo("America/New_York")
WINDOW_START = date(2026, 3, 1)
WINDOW_DAYS = 28  # 1-28 March 2026; US daylight saving time starts on Sunday 8 March.

VTIMEZONE_NEW_YORK = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:20070311T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:20071104T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE
"""

SINGLE = """BEGIN:VEVENT
UID:single-1@harness.test
DTSTAMP:20260201T120000Z
DTSTART:20260305T150000Z
DTEND:20260305T160000Z
SUMMARY:Intake conference
STATUS:{status}
END:VEVENT
"""

# Mondays 09:00-10:00 New York time from 23 February, six times: 23 Feb and 30 Mar fall outside
# the window, 16 Mar is excluded, 23 Mar is moved to Tuesday 24 Mar 11:00-12:00.
SERIES = """BEGIN:VEVENT
UID:series-1@harness.test
DTSTAMP:20260201T120000Z
DTSTART;TZID=America/New_York:20260223T090000
DTEND;TZID=America/New_York:20260223T100000
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6
EXDATE;TZID=America/New_York:20260316T090000
SUMMARY:Weekly case review
END:VEVENT
BEGIN:VEVENT
UID:series-1@harness.test
DTSTAMP:20260201T120000Z
RECURRENCE-ID;TZID=America/New_York:20260323T090000
DTSTART;TZID=America/New_York:20260324T110000
DTEND;TZID=America/New_York:20260324T120000
SUMMARY:Weekly case review
END:VEVENT
"""

# The occurrence of 9 March, cancelled on its own.
SERIES_OCCURRENCE_CANCELLED = """BEGIN:VEVENT
UID:series-1@harness.test
DTSTAMP:20260202T120000Z
RECURRENCE-ID;TZID=America/New_York:20260309T090000
DTSTART;TZID=America/New_York:20260309T090000
DTEND;TZID=America/New_York:20260309T100000
SUMMARY:Weekly case review
STATUS:CANCELLED
END:VEVENT
"""

CANCELLED = """BEGIN:VEVENT
UID:cancelled-1@harness.test
DTSTAMP:20260201T120000Z
DTSTART:20260311T180000Z
DTEND:20260311T190000Z
SUMMARY:Family meeting
STATUS:CANCELLED
END:VEVENT
"""


def calendar(*components: str) -> bytes:
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Harness//Calendar client test//EN\n"
    text += "".join(components) + "END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


FEED = calendar(VTIMEZONE_NEW_YORK, SINGLE.format(status="CONFIRMED"), SERIES, CANCELLED)


@dataclass
class FeedServer:
    base_url: str
    feeds: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            body = state.feeds.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="feed-server", daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def ny(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=NEW_YORK)


def test_khal_shows_single_series_and_cancelled_events(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.feeds["/feed.ics"] = FEED

    events = sync_and_list(
        f"{feed_server.base_url}/feed.ics",
        tmp_path / "client",
        start=WINDOW_START,
        days=WINDOW_DAYS,
        time_zone="America/New_York",
    )

    assert feed_server.requests and set(feed_server.requests) == {"/feed.ics"}
    hour = timedelta(hours=1)
    assert events == [
        ClientEvent("Weekly case review", ny(2, 9), ny(2, 10), status="", recurring=True),
        ClientEvent("Intake conference", ny(5, 10), ny(5, 11), status="CONFIRMED", recurring=False),
        ClientEvent("Weekly case review", ny(9, 9), ny(9, 10), status="", recurring=True),
        # khal lists a cancelled event like any other; only its status tells.
        ClientEvent("Family meeting", ny(11, 14), ny(11, 15), status="CANCELLED", recurring=False),
        # 16 March is an EXDATE; 23 March moved to the 24th, still an occurrence of the series.
        ClientEvent("Weekly case review", ny(24, 11), ny(24, 12), status="", recurring=True),
    ]
    assert all(event.end - event.start == hour for event in events)
    # The series stays at 09:00 local across the change to daylight saving time on 8 March.
    before, after = (e for e in events if e.title == "Weekly case review" and e.start.day in (2, 9))
    assert (before.start.hour, before.start.utcoffset()) == (9, timedelta(hours=-5))
    assert (after.start.hour, after.start.utcoffset()) == (9, timedelta(hours=-4))
    assert before.start.astimezone(UTC).hour == 14
    assert after.start.astimezone(UTC).hour == 13


def test_listing_in_utc_and_resync_after_feed_changes(feed_server: FeedServer, tmp_path: Path) -> None:
    feed_server.feeds["/feed.ics"] = FEED
    workdir = tmp_path / "client"
    url = f"{feed_server.base_url}/feed.ics"

    events = sync_and_list(url, workdir, start=WINDOW_START, days=WINDOW_DAYS)

    assert [(e.title, e.start, e.start.tzinfo) for e in events] == [
        ("Weekly case review", datetime(2026, 3, 2, 14, tzinfo=UTC), ZoneInfo("UTC")),
        ("Intake conference", datetime(2026, 3, 5, 15, tzinfo=UTC), ZoneInfo("UTC")),
        ("Weekly case review", datetime(2026, 3, 9, 13, tzinfo=UTC), ZoneInfo("UTC")),
        ("Family meeting", datetime(2026, 3, 11, 18, tzinfo=UTC), ZoneInfo("UTC")),
        ("Weekly case review", datetime(2026, 3, 24, 15, tzinfo=UTC), ZoneInfo("UTC")),
    ]

    # The single event is cancelled, one occurrence of the series is cancelled on its own, and the
    # already cancelled event leaves the feed: the same subscription, synced again, follows.
    feed_server.feeds["/feed.ics"] = calendar(
        VTIMEZONE_NEW_YORK, SINGLE.format(status="CANCELLED"), SERIES, SERIES_OCCURRENCE_CANCELLED
    )
    events = sync_and_list(url, workdir, start=WINDOW_START, days=WINDOW_DAYS)

    assert [(e.title, e.start, e.status, e.recurring) for e in events] == [
        ("Weekly case review", datetime(2026, 3, 2, 14, tzinfo=UTC), "", True),
        ("Intake conference", datetime(2026, 3, 5, 15, tzinfo=UTC), "CANCELLED", False),
        ("Weekly case review", datetime(2026, 3, 9, 13, tzinfo=UTC), "CANCELLED", True),
        ("Weekly case review", datetime(2026, 3, 24, 15, tzinfo=UTC), "", True),
    ]
