"""Busy times from external ICS feeds: parsing, expansion, merging, and the address checks."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from conference.scheduling import external
from conference.scheduling.external import BusyInterval, ExternalCalendarError, busy_from_ics, normalise_feed_url

WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 29, tzinfo=UTC)


def calendar(body: str = "", header: str = "") -> bytes:
    """A VCALENDAR around ``body``, with CRLF line ends as RFC 5545 wants."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Test//EN", *header.split(), *body.split("\n")]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(line.strip() for line in lines if line.strip()) + "\r\n").encode()


def event(*properties: str, uid: str = "event-1") -> str:
    return "\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *properties, "END:VEVENT"])


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def busy(data: bytes, **options: object) -> list[BusyInterval]:
    return busy_from_ics(data, WINDOW_START, WINDOW_END, **options)  # type: ignore[arg-type]


NEW_YORK_VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""


# ------------------------------------------------------------------------------ single events


def test_single_event_in_utc() -> None:
    data = calendar(event("DTSTART:20260304T150000Z", "DTEND:20260304T160000Z", "SUMMARY:Supervision"))
    intervals = busy(data)
    assert intervals == [BusyInterval(utc(3, 4, 15), utc(3, 4, 16))]
    assert intervals[0].start.utcoffset() == timedelta(0)
    assert intervals[0].end.tzinfo is UTC


def test_single_event_with_tzid_is_converted_to_utc() -> None:
    data = calendar(event("DTSTART;TZID=Europe/Berlin:20260304T090000", "DTEND;TZID=Europe/Berlin:20260304T103000"))
    assert busy(data) == [BusyInterval(utc(3, 4, 8), utc(3, 4, 9, 30))]


def test_floating_event_is_read_in_default_zone() -> None:
    data = calendar(event("DTSTART:20260304T090000", "DTEND:20260304T100000"))
    assert busy(data) == [BusyInterval(utc(3, 4, 9), utc(3, 4, 10))]
    assert busy(data, default_zone="America/Chicago") == [BusyInterval(utc(3, 4, 15), utc(3, 4, 16))]


def test_floating_event_uses_the_zone_the_calendar_declares() -> None:
    data = calendar(event("DTSTART:20260304T090000", "DTEND:20260304T100000"), header="X-WR-TIMEZONE:Asia/Tokyo")
    assert busy(data, default_zone="America/Chicago") == [BusyInterval(utc(3, 4, 0), utc(3, 4, 1))]


def test_unknown_declared_zone_falls_back_to_default_zone() -> None:
    data = calendar(event("DTSTART:20260304T090000", "DTEND:20260304T100000"), header="X-WR-TIMEZONE:Nowhere/Town")
    assert busy(data, default_zone="America/Chicago") == [BusyInterval(utc(3, 4, 15), utc(3, 4, 16))]


def test_outlook_windows_zone_name_is_understood() -> None:
    data = calendar(
        event("DTSTART;TZID=Eastern Standard Time:20260304T090000", "DTEND;TZID=Eastern Standard Time:20260304T100000")
    )
    assert busy(data) == [BusyInterval(utc(3, 4, 14), utc(3, 4, 15))]


def test_zone_nobody_knows_is_read_like_a_floating_time() -> None:
    data = calendar(event("DTSTART;TZID=Custom Zone 7:20260304T090000", "DTEND;TZID=Custom Zone 7:20260304T100000"))
    assert busy(data, default_zone="America/Chicago") == [BusyInterval(utc(3, 4, 15), utc(3, 4, 16))]


def test_duration_instead_of_dtend() -> None:
    data = calendar(event("DTSTART:20260304T150000Z", "DURATION:PT45M"))
    assert busy(data) == [BusyInterval(utc(3, 4, 15), utc(3, 4, 15, 45))]


def test_timed_event_without_end_or_duration_blocks_nothing() -> None:
    data = calendar(event("DTSTART:20260304T150000Z"))
    assert busy(data) == []


def test_empty_calendar_has_no_busy_time() -> None:
    assert busy(calendar()) == []


# ------------------------------------------------------------------------------ what counts


def test_transparent_cancelled_and_tentative_events() -> None:
    data = calendar(
        "\n".join(
            [
                event("DTSTART:20260302T100000Z", "DTEND:20260302T110000Z", "TRANSP:TRANSPARENT", uid="free"),
                event("DTSTART:20260303T100000Z", "DTEND:20260303T110000Z", "STATUS:CANCELLED", uid="cancelled"),
                event("DTSTART:20260304T100000Z", "DTEND:20260304T110000Z", "STATUS:TENTATIVE", uid="tentative"),
                event("DTSTART:20260305T100000Z", "DTEND:20260305T110000Z", "TRANSP:OPAQUE", uid="opaque"),
            ]
        )
    )
    assert busy(data) == [
        BusyInterval(utc(3, 4, 10), utc(3, 4, 11)),
        BusyInterval(utc(3, 5, 10), utc(3, 5, 11)),
    ]


def test_all_day_event_blocks_the_whole_local_day_in_default_zone() -> None:
    data = calendar(event("DTSTART;VALUE=DATE:20260304", "DTEND;VALUE=DATE:20260305"))
    assert busy(data) == [BusyInterval(utc(3, 4), utc(3, 5))]
    # Midnight to midnight in New York is 05:00 to 05:00 UTC in early March (EST).
    assert busy(data, default_zone="America/New_York") == [BusyInterval(utc(3, 4, 5), utc(3, 5, 5))]


def test_all_day_event_without_end_lasts_one_day_and_multi_day_events_span() -> None:
    data = calendar(
        "\n".join(
            [
                event("DTSTART;VALUE=DATE:20260304", uid="one-day"),
                event("DTSTART;VALUE=DATE:20260310", "DTEND;VALUE=DATE:20260313", uid="conference-trip"),
            ]
        )
    )
    assert busy(data) == [
        BusyInterval(utc(3, 4), utc(3, 5)),
        BusyInterval(utc(3, 10), utc(3, 13)),
    ]


def test_all_day_event_marked_free_is_skipped() -> None:
    data = calendar(event("DTSTART;VALUE=DATE:20260304", "DTEND;VALUE=DATE:20260305", "TRANSP:TRANSPARENT"))
    assert busy(data) == []


def test_all_day_event_across_the_dst_change_keeps_local_midnights() -> None:
    # 8 March 2026 is the day New York moves to daylight time: that local day is 23 hours long.
    data = calendar(event("DTSTART;VALUE=DATE:20260308", "DTEND;VALUE=DATE:20260309"))
    assert busy(data, default_zone="America/New_York") == [BusyInterval(utc(3, 8, 5), utc(3, 9, 4))]


# ------------------------------------------------------------------------------ repeating events


def test_weekly_rule_with_exdate_rdate_and_moved_occurrence() -> None:
    series = event(
        "DTSTART:20260302T100000Z",
        "DTEND:20260302T110000Z",
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        "EXDATE:20260309T100000Z",
        "RDATE:20260311T120000Z",
        uid="weekly",
    )
    moved = event(
        "RECURRENCE-ID:20260316T100000Z",
        "DTSTART:20260317T150000Z",
        "DTEND:20260317T160000Z",
        uid="weekly",
    )
    assert busy(calendar(series + "\n" + moved)) == [
        BusyInterval(utc(3, 2, 10), utc(3, 2, 11)),
        BusyInterval(utc(3, 11, 12), utc(3, 11, 13)),
        BusyInterval(utc(3, 17, 15), utc(3, 17, 16)),
        BusyInterval(utc(3, 23, 10), utc(3, 23, 11)),
    ]


def test_one_occurrence_cancelled_or_made_free() -> None:
    series = event("DTSTART:20260302T100000Z", "DTEND:20260302T110000Z", "RRULE:FREQ=WEEKLY;COUNT=3", uid="weekly")
    cancelled = event(
        "RECURRENCE-ID:20260309T100000Z",
        "DTSTART:20260309T100000Z",
        "DTEND:20260309T110000Z",
        "STATUS:CANCELLED",
        uid="weekly",
    )
    free = event(
        "RECURRENCE-ID:20260316T100000Z",
        "DTSTART:20260316T100000Z",
        "DTEND:20260316T110000Z",
        "TRANSP:TRANSPARENT",
        uid="weekly",
    )
    assert busy(calendar("\n".join([series, cancelled, free]))) == [BusyInterval(utc(3, 2, 10), utc(3, 2, 11))]


@pytest.mark.parametrize("with_vtimezone", [True, False], ids=["vtimezone", "iana-name-only"])
def test_weekly_rule_keeps_local_time_across_dst(with_vtimezone: bool) -> None:
    series = event(
        "DTSTART;TZID=America/New_York:20260226T090000",
        "DTEND;TZID=America/New_York:20260226T100000",
        "RRULE:FREQ=WEEKLY;BYDAY=TH",
    )
    data = calendar((NEW_YORK_VTIMEZONE + "\n" if with_vtimezone else "") + series)
    assert busy_from_ics(data, utc(2, 20), utc(3, 20)) == [
        BusyInterval(utc(2, 26, 14), utc(2, 26, 15)),
        BusyInterval(utc(3, 5, 14), utc(3, 5, 15)),
        # 8 March: clocks in New York go forward, so 09:00 local is an hour earlier in UTC.
        BusyInterval(utc(3, 12, 13), utc(3, 12, 14)),
        BusyInterval(utc(3, 19, 13), utc(3, 19, 14)),
    ]


def test_series_that_ended_before_the_window_is_absent() -> None:
    data = calendar(
        event("DTSTART:20250106T100000Z", "DTEND:20250106T110000Z", "RRULE:FREQ=DAILY;UNTIL=20250201T000000Z")
    )
    assert busy(data) == []


# ------------------------------------------------------------------------------ merging and clipping


def test_overlapping_contained_and_touching_events_are_merged() -> None:
    data = calendar(
        "\n".join(
            [
                event("DTSTART:20260304T090000Z", "DTEND:20260304T100000Z", uid="a"),
                event("DTSTART:20260304T093000Z", "DTEND:20260304T110000Z", uid="b"),  # overlaps a
                event("DTSTART:20260304T094500Z", "DTEND:20260304T100000Z", uid="c"),  # inside a and b
                event("DTSTART:20260304T110000Z", "DTEND:20260304T113000Z", uid="d"),  # touches b
                event("DTSTART:20260304T140000Z", "DTEND:20260304T150000Z", uid="e"),  # apart
                event("DTSTART:20260303T080000Z", "DTEND:20260303T083000Z", uid="f"),  # earlier, listed last
            ]
        )
    )
    assert busy(data) == [
        BusyInterval(utc(3, 3, 8), utc(3, 3, 8, 30)),
        BusyInterval(utc(3, 4, 9), utc(3, 4, 11, 30)),
        BusyInterval(utc(3, 4, 14), utc(3, 4, 15)),
    ]


def test_intervals_are_clipped_to_the_window() -> None:
    data = calendar(
        "\n".join(
            [
                event("DTSTART:20260228T220000Z", "DTEND:20260301T020000Z", uid="across-start"),
                event("DTSTART:20260328T230000Z", "DTEND:20260329T010000Z", uid="across-end"),
                event("DTSTART:20260227T100000Z", "DTEND:20260227T110000Z", uid="before"),
                event("DTSTART:20260329T000000Z", "DTEND:20260329T010000Z", uid="starts-at-window-end"),
            ]
        )
    )
    assert busy(data) == [
        BusyInterval(utc(3, 1), utc(3, 1, 2)),
        BusyInterval(utc(3, 28, 23), utc(3, 29)),
    ]


def test_event_longer_than_the_window_fills_it() -> None:
    data = calendar(event("DTSTART;VALUE=DATE:20260201", "DTEND;VALUE=DATE:20260501", uid="leave"))
    assert busy(data) == [BusyInterval(WINDOW_START, WINDOW_END)]


# ------------------------------------------------------------------------------ limits


def test_more_occurrences_than_max_events_is_refused() -> None:
    data = calendar(event("DTSTART:20260101T100000Z", "DTEND:20260101T110000Z", "RRULE:FREQ=DAILY"))
    with pytest.raises(ExternalCalendarError) as refused:
        busy(data, max_events=10)
    assert refused.value.kind == "too_large"
    assert len(busy(data, max_events=100)) == 28


def test_rule_too_costly_to_expand_is_refused_before_expanding() -> None:
    # Every minute since 1970: tens of millions of steps. Refused at once, not after minutes of CPU.
    data = calendar(event("DTSTART:19700101T000000Z", "DURATION:PT1M", "RRULE:FREQ=MINUTELY"))
    with pytest.raises(ExternalCalendarError) as refused:
        busy(data)
    assert refused.value.kind == "too_large"


def test_long_running_daily_series_is_fine() -> None:
    data = calendar(event("DTSTART:19900101T120000Z", "DTEND:19900101T130000Z", "RRULE:FREQ=DAILY"))
    assert len(busy(data)) == 28


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "not_calendar"),
        (b"\x00\x9f\x92\x96garbage\xff\xfe", "not_calendar"),
        (b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>", "not_calendar"),
        (b'{"error": "not found"}', "not_calendar"),
        (calendar(event("DTSTART:20260304T150000Z", "DTEND:20260304T160000Z"))[:-40], "malformed"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20260304T15", "malformed"),
        (calendar(event("DTSTART:20261304T150000Z", "DTEND:20261304T160000Z")), "malformed"),
        (calendar(event("DTSTART:20260230T150000Z", "DTEND:20260230T160000Z")), "malformed"),
        (calendar(event("DTSTART;TZID=Europe/Berlin:yesterday", "DURATION:PT1H")), "malformed"),
        (calendar(event("DTSTART:20260304T150000Z", "DTEND 20260304T160000Z")), "malformed"),
        (calendar(event("DTEND:20260304T160000Z")), "malformed"),
        (calendar(event("DTSTART:20260304T150000Z", "DURATION:PT1H", "RRULE:FREQ=FORTNIGHTLY")), "malformed"),
        (calendar("this line is not iCalendar"), "malformed"),
        (calendar(event("DTSTART:20260304T150000Z", "DURATION:PT1H"), header="CALSCALE:ISLAMIC-CIVIL"), "malformed"),
    ],
    ids=[
        "empty",
        "garbage-bytes",
        "html-page",
        "json",
        "truncated-before-end",
        "truncated-mid-line",
        "month-13",
        "30-february",
        "words-for-a-date",
        "line-without-colon",
        "no-start",
        "unknown-frequency",
        "stray-line",
        "non-gregorian",
    ],
)
def test_bad_input_raises_with_the_right_kind(data: bytes, kind: str) -> None:
    with pytest.raises(ExternalCalendarError) as refused:
        busy(data)
    assert refused.value.kind == kind
    assert refused.value.message == str(refused.value)
    assert len(refused.value.message) > 40


@pytest.mark.parametrize(
    "data",
    [
        calendar(event("SUMMARY:Custody hearing for J. Doe", "DTSTART:20261304T150000Z")),
        calendar("Custody hearing for J. Doe, 20261304"),
    ],
    ids=["unreadable-date", "unparseable-line"],
)
def test_error_messages_quote_nothing_from_the_calendar(data: bytes) -> None:
    with pytest.raises(ExternalCalendarError) as refused:
        busy(data)
    assert "Doe" not in str(refused.value)
    assert "20261304" not in str(refused.value)
    # Library exceptions quote raw lines too, so none is attached for a logger to print.
    assert refused.value.__cause__ is None
    assert refused.value.__context__ is None or refused.value.__suppress_context__


def test_byte_order_mark_and_leading_whitespace_are_accepted() -> None:
    data = b"\xef\xbb\xbf\r\n  " + calendar(event("DTSTART:20260304T150000Z", "DTEND:20260304T160000Z"))
    assert busy(data) == [BusyInterval(utc(3, 4, 15), utc(3, 4, 16))]


def test_caller_mistakes_are_value_errors() -> None:
    data = calendar()
    with pytest.raises(ValueError, match="timezone-aware"):
        busy_from_ics(data, datetime(2026, 3, 1), WINDOW_END)
    with pytest.raises(ValueError, match="after"):
        busy_from_ics(data, WINDOW_END, WINDOW_START)
    with pytest.raises(ValueError, match="time zone"):
        busy_from_ics(data, WINDOW_START, WINDOW_END, default_zone="Mars/Olympus_Mons")


def test_error_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="kind"):
        ExternalCalendarError("message", kind="oops")


# ------------------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    ("pasted", "normalised"),
    [
        ("webcal://p12-caldav.icloud.com/published/2/abc", "https://p12-caldav.icloud.com/published/2/abc"),
        ("webcals://calendar.example.org/feed.ics", "https://calendar.example.org/feed.ics"),
        ("WEBCAL://Calendar.Example.org/feed.ics", "https://Calendar.Example.org/feed.ics"),
        (
            "https://calendar.google.com/calendar/ical/x%40group/private-abc/basic.ics",
            "https://calendar.google.com/calendar/ical/x%40group/private-abc/basic.ics",
        ),
        ("http://calendar.example.org:8080/feed?token=abc", "http://calendar.example.org:8080/feed?token=abc"),
        ("  https://calendar.example.org/feed.ics\n", "https://calendar.example.org/feed.ics"),
        ("https://calendar.example.org", "https://calendar.example.org/"),
        ("https://calendar.example.org/feed.ics#section", "https://calendar.example.org/feed.ics"),
        ("https://me:s3cret@dav.example.org/cal.ics", "https://me:s3cret@dav.example.org/cal.ics"),
        ("https://[2001:db8::1]/cal.ics", "https://[2001:db8::1]/cal.ics"),
    ],
)
def test_addresses_that_are_accepted(pasted: str, normalised: str) -> None:
    assert normalise_feed_url(pasted) == normalised


@pytest.mark.parametrize(
    "pasted",
    [
        "",
        "   ",
        "ftp://calendar.example.org/feed.ics",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "mailto:someone@example.org",
        "calendar.example.org/feed.ics",
        "https:///feed.ics",
        "webcal://",
        "https://user:pw@/feed.ics",
        "https://calendar.example.org:99999/feed.ics",
        "https://calendar.example.org:port/feed.ics",
        "https://calendar.example.org/my feed.ics",
        "https://calendar.example.org/feed.ics\x00",
        "https://calendar.example.org/" + "a" * 2000,
    ],
    ids=[
        "empty",
        "blank",
        "ftp",
        "file",
        "javascript",
        "mailto",
        "no-scheme",
        "empty-host",
        "webcal-without-host",
        "credentials-without-host",
        "port-out-of-range",
        "port-not-a-number",
        "space",
        "control-character",
        "too-long",
    ],
)
def test_addresses_that_are_refused(pasted: str) -> None:
    with pytest.raises(ExternalCalendarError) as refused:
        normalise_feed_url(pasted)
    assert refused.value.kind == "url"


def test_refusal_never_repeats_credentials() -> None:
    with pytest.raises(ExternalCalendarError) as refused:
        normalise_feed_url("ftp://clinician:hunter2@calendar.example.org/feed.ics")
    assert "hunter2" not in str(refused.value)
    assert "clinician" not in str(refused.value)


def test_address_of_exactly_the_limit_is_accepted() -> None:
    prefix = "https://calendar.example.org/"
    url = prefix + "a" * (external.MAX_URL_LENGTH - len(prefix))
    assert normalise_feed_url(url) == url


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2607:f8b0:4004:800::200e", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata service
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ],
)
def test_public_address_check(address: str, public: bool) -> None:
    assert external._is_public_address(ipaddress.ip_address(address)) is public
