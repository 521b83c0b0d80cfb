"""iCalendar feeds and invitations: deterministic bytes, client-visible fields, time zones."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from dateutil.rrule import rrulestr
from icalendar import Calendar, Event, Timezone

from conference.scheduling.ical import (
    CalendarEvent,
    Occurrence,
    Person,
    render_feed,
    render_invitation,
    vtimezone,
)

NY = "America/New_York"
URL = "https://conference.example.org/meetings/"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# A weekly 09:00 New York case review on Thursdays; clocks go forward on Sunday 8 March 2026.
SERIES = CalendarEvent(
    uid="series-1@conference.example.org",
    sequence=4,
    last_modified=utc(2026, 3, 1, 10, 30),
    summary="Case conference",
    url=URL + "series-1",
    start=utc(2026, 3, 5, 14),  # 09:00 EST
    end=utc(2026, 3, 5, 15),
    time_zone=NY,
    rrule="FREQ=WEEKLY;COUNT=6",  # 5, 12, 19, 26 March, 2 and 9 April
    exdates=(utc(2026, 3, 19, 13),),  # 19 March, 09:00 EDT: excluded
    overrides=(
        Occurrence(  # 26 March moved to 11:00-12:00 local
            recurrence_id=utc(2026, 3, 26, 13),
            start=utc(2026, 3, 26, 15),
            end=utc(2026, 3, 26, 16),
            cancelled=False,
            sequence=5,
            last_modified=utc(2026, 3, 2, 8),
        ),
        Occurrence(  # 2 April cancelled
            recurrence_id=utc(2026, 4, 2, 13),
            start=utc(2026, 4, 2, 13),
            end=utc(2026, 4, 2, 14),
            cancelled=True,
            sequence=6,
            last_modified=utc(2026, 3, 3, 8),
        ),
    ),
    location="Video room (sign in to join)",
    description="Multidisciplinary case review. Sign in to see the agenda; " + "détails " * 20,
)
SINGLE = CalendarEvent(
    uid="single-1@conference.example.org",
    sequence=0,
    last_modified=utc(2026, 2, 20, 9, 15, 7),
    summary="Case conference",
    url=URL + "single-1",
    start=utc(2026, 3, 10, 15),
    end=utc(2026, 3, 10, 16),
    time_zone="Europe/Berlin",
    location="Video room (sign in to join)",
)
CANCELLED = CalendarEvent(
    uid="single-2@conference.example.org",
    sequence=2,
    last_modified=utc(2026, 3, 4, 12),
    summary="Case conference",
    url=URL + "single-2",
    start=utc(2026, 3, 11, 17),
    end=utc(2026, 3, 11, 18),
    time_zone=NY,
    cancelled=True,
)
EVENTS = (SERIES, SINGLE, CANCELLED)
ORGANIZER = Person("Dr. Ada Moreno, MD", "ada.moreno@clinic.example.org")
ATTENDEES = (
    (Person("Sam Okafor", "sam.okafor@clinic.example.org"), "required"),
    (Person("Lee Chen", "lee.chen@clinic.example.org"), "optional"),
)


def feed(events: tuple[CalendarEvent, ...] = EVENTS) -> bytes:
    return render_feed(events, calendar_name="Case conferences")


def unfolded_lines(body: bytes) -> list[str]:
    assert body.endswith(b"\r\n")
    return body.decode("utf-8").replace("\r\n ", "").split("\r\n")[:-1]


def vevents(body: bytes) -> list[Event]:
    return [component for component in Calendar.from_ical(body).walk("VEVENT") if isinstance(component, Event)]


# ---------------------------------------------------------------------------------------------
# Feeds


def test_feed_is_deterministic_whatever_the_input_order() -> None:
    first = feed()
    assert feed() == first
    assert feed(tuple(reversed(EVENTS))) == first


def test_feed_calendar_properties() -> None:
    body = feed()
    lines = unfolded_lines(body)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "X-PUBLISHED-TTL:PT1H" in lines
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in lines
    assert "METHOD:PUBLISH" in lines
    assert "PRODID:-//Case Conference//Calendar feed//EN" in lines
    assert "CALSCALE:GREGORIAN" in lines
    cal = Calendar.from_ical(body)
    assert str(cal["VERSION"]) == "2.0"
    assert "UID" not in cal  # a calendar-level UID makes vdirsyncer drop an event
    assert str(cal["X-WR-CALNAME"]) == "Case conferences"


def test_feed_has_no_people() -> None:
    body = feed()
    assert b"ATTENDEE" not in body
    assert b"ORGANIZER" not in body
    assert b"mailto:" not in body


def test_feed_lines_are_folded_to_75_octets() -> None:
    body = feed()
    raw_lines = body.split(b"\r\n")
    assert raw_lines[-1] == b""
    assert all(len(line) <= 75 for line in raw_lines)
    assert any(line.startswith(b" ") for line in raw_lines)  # the long description was folded
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_single_events_are_in_utc() -> None:
    lines = unfolded_lines(feed())
    assert "DTSTART:20260310T150000Z" in lines
    assert "DTEND:20260310T160000Z" in lines
    [event] = [item for item in vevents(feed()) if str(item["UID"]) == SINGLE.uid]
    assert event.decoded("DTSTART") == SINGLE.start
    assert event.decoded("DTSTAMP") == SINGLE.last_modified
    assert event.decoded("LAST-MODIFIED") == SINGLE.last_modified
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert str(event["CLASS"]) == "PRIVATE"
    assert str(event["URL"]) == SINGLE.url
    assert str(event["SUMMARY"]) == "Case conference"
    assert str(event["LOCATION"]) == "Video room (sign in to join)"
    assert "DESCRIPTION" not in event


def test_cancelled_event_is_marked_cancelled() -> None:
    [event] = [item for item in vevents(feed()) if str(item["UID"]) == CANCELLED.uid]
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 2
    assert event.decoded("DTSTART") == CANCELLED.start


def test_events_are_sorted_by_start_then_uid() -> None:
    same_start = dataclasses.replace(SINGLE, uid="a-first@conference.example.org")
    uids = [str(item["UID"]) for item in vevents(feed((*EVENTS, same_start))) if "RECURRENCE-ID" not in item]
    assert uids == [SERIES.uid, "a-first@conference.example.org", SINGLE.uid, CANCELLED.uid]


def test_series_is_written_in_its_zone_with_exdates_and_overrides() -> None:
    lines = unfolded_lines(feed())
    assert "DTSTART;TZID=America/New_York:20260305T090000" in lines
    assert "DTEND;TZID=America/New_York:20260305T100000" in lines
    assert "RRULE:FREQ=WEEKLY;COUNT=6" in lines
    assert "EXDATE;TZID=America/New_York:20260319T090000" in lines
    assert "RECURRENCE-ID;TZID=America/New_York:20260326T090000" in lines
    assert "DTSTART;TZID=America/New_York:20260326T110000" in lines
    assert "RECURRENCE-ID;TZID=America/New_York:20260402T090000" in lines
    assert lines.count("BEGIN:VTIMEZONE") == 1
    assert "TZID:America/New_York" in lines
    assert "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" in lines
    assert "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11" in lines
    assert not any(line.startswith("RDATE") for line in lines)
    # The VTIMEZONE comes before the events that use it.
    assert lines.index("BEGIN:VTIMEZONE") < lines.index("BEGIN:VEVENT")

    components = [item for item in vevents(feed()) if str(item["UID"]) == SERIES.uid]
    assert len(components) == 3
    master, moved, cancelled = components
    assert "RECURRENCE-ID" not in master
    assert master["SEQUENCE"] == 4
    assert master.decoded("DTSTAMP") == SERIES.last_modified
    assert (moved["SEQUENCE"], str(moved["STATUS"])) == (5, "CONFIRMED")
    assert moved.decoded("DTSTAMP") == utc(2026, 3, 2, 8)
    assert (cancelled["SEQUENCE"], str(cancelled["STATUS"])) == (6, "CANCELLED")
    assert str(moved["SUMMARY"]) == "Case conference"  # overrides are complete events


def test_feed_without_series_has_no_vtimezone() -> None:
    assert b"VTIMEZONE" not in feed((SINGLE, CANCELLED))
    assert b"TZID" not in feed((SINGLE, CANCELLED))


def test_expanded_series_keeps_wall_clock_time_across_dst() -> None:
    cal = Calendar.from_ical(feed())
    occurrences = recurring_ical_events.of(cal).between(utc(2026, 3, 1), utc(2026, 4, 30))
    series = sorted(
        (item for item in occurrences if str(item["UID"]) == SERIES.uid),
        key=lambda item: item.decoded("DTSTART"),
    )
    seen = [
        (item.decoded("DTSTART").astimezone(UTC), item.decoded("DTEND").astimezone(UTC), str(item["STATUS"]))
        for item in series
    ]
    assert seen == [
        (utc(2026, 3, 5, 14), utc(2026, 3, 5, 15), "CONFIRMED"),  # 09:00 EST
        (utc(2026, 3, 12, 13), utc(2026, 3, 12, 14), "CONFIRMED"),  # 09:00 EDT after 8 March
        # 19 March is excluded
        (utc(2026, 3, 26, 15), utc(2026, 3, 26, 16), "CONFIRMED"),  # moved to 11:00 local
        (utc(2026, 4, 2, 13), utc(2026, 4, 2, 14), "CANCELLED"),
        (utc(2026, 4, 9, 13), utc(2026, 4, 9, 14), "CONFIRMED"),
    ]
    assert all(item.decoded("DTSTART").astimezone(ZoneInfo(NY)).hour in (9, 11) for item in series)
    singles = {str(item["UID"]): item.decoded("DTSTART") for item in occurrences if str(item["UID"]) != SERIES.uid}
    assert singles == {SINGLE.uid: SINGLE.start, CANCELLED.uid: CANCELLED.start}


def test_cancelled_series_cancels_its_overrides_too() -> None:
    cancelled = dataclasses.replace(SERIES, cancelled=True, sequence=7)
    statuses = {str(item["STATUS"]) for item in vevents(feed((cancelled,)))}
    assert statuses == {"CANCELLED"}


def test_refresh_and_description_options() -> None:
    body = render_feed(
        [SINGLE],
        calendar_name="Case conferences",
        refresh="PT30M",
        calendar_description="Your case conferences",
    )
    lines = unfolded_lines(body)
    assert "X-PUBLISHED-TTL:PT30M" in lines
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT30M" in lines
    assert "X-WR-CALDESC:Your case conferences" in lines
    with pytest.raises(ValueError, match="duration"):
        render_feed([SINGLE], calendar_name="x", refresh="1 hour")
    with pytest.raises(ValueError, match="duration"):
        render_feed([SINGLE], calendar_name="x", refresh="PT0H")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": datetime(2026, 3, 10, 15)}, "timezone-aware"),
        ({"start": datetime(2026, 3, 10, 10, tzinfo=ZoneInfo(NY))}, "UTC"),
        ({"end": utc(2026, 3, 10, 15)}, "end must be after start"),
        ({"url": URL + "single-1?token=abc"}, "query"),
        ({"url": "javascript:alert(1)"}, "http"),
        ({"exdates": (utc(2026, 3, 17, 15),)}, "recurrence rule"),
        ({"rrule": "FREQ=WEEKLY;UNTIL=20260501T000000"}, "UNTIL"),
        ({"rrule": "FREQ=WEEKLY;COUNT=3;UNTIL=20260501T000000Z"}, "both"),
        ({"rrule": "COUNT=3"}, "FREQ"),
        ({"rrule": "FREQ=WEEKLY;COUNT=3", "time_zone": "Mars/Olympus"}, "time zone"),
    ],
)
def test_invalid_events_are_rejected(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        feed((dataclasses.replace(SINGLE, **change),))  # type: ignore[arg-type]


def test_duplicate_uids_and_conflicting_overrides_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        feed((SINGLE, dataclasses.replace(SINGLE, start=utc(2026, 5, 1, 9), end=utc(2026, 5, 1, 10))))
    excluded_and_moved = dataclasses.replace(SERIES, exdates=(utc(2026, 3, 26, 13),))
    with pytest.raises(ValueError, match="both excluded and overridden"):
        feed((excluded_and_moved,))


def test_wall_time_in_the_repeated_hour_is_rejected() -> None:
    # 1 November 2026, 01:30 EST (06:30Z) is the second 01:30 in New York.
    series = dataclasses.replace(
        SERIES, start=utc(2026, 11, 1, 6, 30), end=utc(2026, 11, 1, 7), exdates=(), overrides=()
    )
    with pytest.raises(ValueError, match="repeated hour"):
        feed((series,))
    first = dataclasses.replace(series, start=utc(2026, 11, 1, 5, 30), end=utc(2026, 11, 1, 5, 55))
    assert "DTSTART;TZID=America/New_York:20261101T013000" in unfolded_lines(feed((first,)))


# ---------------------------------------------------------------------------------------------
# VTIMEZONE


def zoneinfo_transitions(name: str, start: datetime, end: datetime) -> list[tuple[datetime, timedelta]]:
    """(instant, offset after) for every change of UTC offset, by an hourly scan and bisection."""
    zone = ZoneInfo(name)

    def offset(moment: datetime) -> timedelta:
        value = moment.astimezone(zone).utcoffset()
        assert value is not None
        return value

    found = []
    moment = start
    while moment < end:
        following = moment + timedelta(hours=1)
        if offset(following) != offset(moment):
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == offset(moment) else (low, middle)
            found.append((high, offset(high)))
        moment = following
    return found


def vtimezone_transitions(component: Timezone, start: datetime, end: datetime) -> list[tuple[datetime, timedelta]]:
    """(instant, TZOFFSETTO) for every onset the VTIMEZONE's observances give in [start, end)."""
    found = []
    for observance in component.subcomponents:
        offset_from = observance.decoded("TZOFFSETFROM")
        offset_to = observance.decoded("TZOFFSETTO")
        if offset_from == offset_to:
            continue  # no change of offset: not a transition
        first = observance.decoded("DTSTART")
        assert first.tzinfo is None
        if "RRULE" in observance:
            rule = observance["RRULE"].to_ical().decode()
            onsets = list(rrulestr(rule, dtstart=first).between(start.replace(tzinfo=None), end.replace(tzinfo=None)))
        else:
            onsets = [first]
        for local in onsets:
            instant = (local - offset_from).replace(tzinfo=UTC)
            if start <= instant < end:
                found.append((instant, offset_to))
    return sorted(found)


DST_ZONES = ["America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney"]
FIXED_ZONES = ["America/Sao_Paulo", "Asia/Kolkata", "UTC"]


@pytest.mark.parametrize("name", DST_ZONES)
def test_vtimezone_rules_reproduce_zoneinfo_transitions(name: str) -> None:
    component = Timezone.from_ical(vtimezone(name, reference_year=2026).to_ical())
    assert str(component["TZID"]) == name
    assert {item.name for item in component.subcomponents} == {"STANDARD", "DAYLIGHT"}
    for observance in component.subcomponents:
        rule = observance["RRULE"]
        assert rule["FREQ"] == ["YEARLY"] and len(rule["BYMONTH"]) == 1
        [byday] = rule["BYDAY"]
        assert byday in {f"{n}SU" for n in (1, 2, 3, 4, -1)}
        assert observance.decoded("DTSTART").year == 1970
        assert "RDATE" not in observance
    window = utc(2026, 1, 1), utc(2028, 1, 1)
    expected = zoneinfo_transitions(name, *window)
    assert len(expected) == 4  # two a year
    assert vtimezone_transitions(component, *window) == expected


@pytest.mark.parametrize("name", DST_ZONES + FIXED_ZONES + ["Asia/Jerusalem", "Africa/Casablanca"])
def test_vtimezone_offsets_match_zoneinfo_through_2026_and_2027(name: str) -> None:
    """Read back by dateutil (as a client would), the zone gives zoneinfo's offsets.

    Checked every three hours and on both sides of each transition, through the repeated hour.
    """
    component = Timezone.from_ical(vtimezone(name, reference_year=2026).to_ical())
    built = component.to_tz(lookup_tzid=False)
    reference = ZoneInfo(name)
    window = utc(2026, 1, 1), utc(2028, 1, 1)
    moments = [window[0] + timedelta(hours=3 * step, minutes=30) for step in range(8 * 365 * 2)]
    for instant, _ in zoneinfo_transitions(name, *window):
        moments += [instant + timedelta(seconds=seconds) for seconds in (-3601, -1, 0, 1, 1800, 3599, 3600)]
    for moment in moments:
        assert moment.astimezone(built).utcoffset() == moment.astimezone(reference).utcoffset(), moment


@pytest.mark.parametrize("name", FIXED_ZONES)
def test_vtimezone_without_dst_is_one_standard_without_rule(name: str) -> None:
    component = Timezone.from_ical(vtimezone(name, reference_year=2026).to_ical())
    [standard] = component.subcomponents
    assert standard.name == "STANDARD"
    assert "RRULE" not in standard and "RDATE" not in standard
    offset = utc(2026, 7, 1).astimezone(ZoneInfo(name)).utcoffset()
    assert standard.decoded("TZOFFSETFROM") == standard.decoded("TZOFFSETTO") == offset
    assert zoneinfo_transitions(name, utc(2026, 1, 1), utc(2028, 1, 1)) == []


def test_vtimezone_southern_hemisphere_starts_daylight_in_october() -> None:
    component = vtimezone("Australia/Sydney", reference_year=2026)
    by_name = {item.name: item for item in component.subcomponents}
    assert by_name["DAYLIGHT"]["RRULE"]["BYMONTH"] == [10]
    assert by_name["STANDARD"]["RRULE"]["BYMONTH"] == [4]
    assert by_name["DAYLIGHT"].decoded("TZOFFSETTO") == timedelta(hours=11)


def test_vtimezone_rule_not_on_a_weekday_of_the_month_uses_on_or_after() -> None:
    # Israel moves clocks forward on the Friday before the last Sunday of March (tzdata: Fri>=23).
    component = Timezone.from_ical(vtimezone("Asia/Jerusalem", reference_year=2026).to_ical())
    window = utc(2026, 1, 1), utc(2034, 1, 1)
    assert vtimezone_transitions(component, *window) == zoneinfo_transitions("Asia/Jerusalem", *window)


def test_vtimezone_is_deterministic_and_rejects_unknown_zones() -> None:
    assert vtimezone(NY, reference_year=2026).to_ical() == vtimezone(NY, reference_year=2026).to_ical()
    with pytest.raises(ValueError, match="time zone"):
        vtimezone("Nowhere/Special", reference_year=2026)


# ---------------------------------------------------------------------------------------------
# Invitations


def test_request_invitation() -> None:
    body = render_invitation(SINGLE, method="REQUEST", organizer=ORGANIZER, attendees=ATTENDEES)
    assert body == render_invitation(SINGLE, method="REQUEST", organizer=ORGANIZER, attendees=ATTENDEES)
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    lines = unfolded_lines(body)
    assert "METHOD:REQUEST" in lines
    assert 'ORGANIZER;CN="Dr. Ada Moreno, MD":mailto:ada.moreno@clinic.example.org' in lines
    assert (
        'ATTENDEE;CN="Sam Okafor";PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=FALSE:'
        "mailto:sam.okafor@clinic.example.org"
    ) in lines
    [event] = vevents(body)
    attendees = {str(item): item.params for item in event["ATTENDEE"]}
    assert attendees.keys() == {"mailto:sam.okafor@clinic.example.org", "mailto:lee.chen@clinic.example.org"}
    assert attendees["mailto:lee.chen@clinic.example.org"]["ROLE"] == "OPT-PARTICIPANT"
    assert {params["PARTSTAT"] for params in attendees.values()} == {"NEEDS-ACTION"}
    assert str(event["UID"]) == SINGLE.uid
    assert event["SEQUENCE"] == SINGLE.sequence
    assert event.decoded("DTSTAMP") == SINGLE.last_modified
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == SINGLE.start


def test_update_keeps_uid_and_raises_sequence() -> None:
    moved = dataclasses.replace(
        SINGLE, sequence=1, start=utc(2026, 3, 10, 16), end=utc(2026, 3, 10, 17), last_modified=utc(2026, 3, 1)
    )
    [event] = vevents(render_invitation(moved, method="REQUEST", organizer=ORGANIZER, attendees=ATTENDEES))
    assert (str(event["UID"]), event["SEQUENCE"]) == (SINGLE.uid, 1)


def test_request_for_a_series_excludes_cancelled_and_sends_moved_occurrences() -> None:
    body = render_invitation(SERIES, method="REQUEST", organizer=ORGANIZER, attendees=ATTENDEES)
    lines = unfolded_lines(body)
    assert lines.count("BEGIN:VTIMEZONE") == 1
    assert "EXDATE;TZID=America/New_York:20260319T090000" in lines
    assert "EXDATE;TZID=America/New_York:20260402T090000" in lines  # the cancelled override
    assert "RECURRENCE-ID;TZID=America/New_York:20260326T090000" in lines
    assert "STATUS:CANCELLED" not in lines
    master, moved = vevents(body)
    assert len(moved["ATTENDEE"]) == 2 and "ORGANIZER" in moved
    assert master["SEQUENCE"] == SERIES.sequence
    with pytest.raises(ValueError, match="CANCEL"):
        render_invitation(CANCELLED, method="REQUEST", organizer=ORGANIZER, attendees=ATTENDEES)


def test_cancel_invitation() -> None:
    cancelled = dataclasses.replace(SINGLE, cancelled=True, sequence=1)
    body = render_invitation(cancelled, method="CANCEL", organizer=ORGANIZER, attendees=ATTENDEES)
    lines = unfolded_lines(body)
    assert "METHOD:CANCEL" in lines
    [event] = vevents(body)
    assert str(event["STATUS"]) == "CANCELLED"
    assert (str(event["UID"]), event["SEQUENCE"]) == (SINGLE.uid, 1)
    assert "RECURRENCE-ID" not in event
    assert len(event["ATTENDEE"]) == 2


def test_cancel_one_occurrence_carries_recurrence_id() -> None:
    body = render_invitation(
        SERIES, method="CANCEL", organizer=ORGANIZER, attendees=ATTENDEES, recurrence_id=utc(2026, 4, 9, 13)
    )
    lines = unfolded_lines(body)
    assert "METHOD:CANCEL" in lines
    assert "RECURRENCE-ID;TZID=America/New_York:20260409T090000" in lines
    [event] = vevents(body)
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == SERIES.sequence
    assert event.decoded("DTSTAMP") == SERIES.last_modified
    assert "RRULE" not in event
    # An occurrence that already has its own, higher SEQUENCE keeps going up.
    body = render_invitation(
        SERIES, method="CANCEL", organizer=ORGANIZER, attendees=ATTENDEES, recurrence_id=utc(2026, 3, 26, 13)
    )
    [event] = vevents(body)
    assert event["SEQUENCE"] == 5
    assert event.decoded("DTSTART").astimezone(UTC) == utc(2026, 3, 26, 15)


def test_invitation_input_is_checked() -> None:
    with pytest.raises(ValueError, match="role"):
        render_invitation(SINGLE, method="REQUEST", organizer=ORGANIZER, attendees=[(ORGANIZER, "chair")])
    with pytest.raises(ValueError, match="e-mail"):
        render_invitation(
            SINGLE, method="REQUEST", organizer=Person("X", "x@y.org\r\nATTENDEE:mailto:z@y.org"), attendees=()
        )
    with pytest.raises(ValueError, match="twice"):
        render_invitation(SINGLE, method="REQUEST", organizer=ORGANIZER, attendees=[ATTENDEES[0], ATTENDEES[0]])
    with pytest.raises(ValueError, match="series"):
        render_invitation(SINGLE, method="CANCEL", organizer=ORGANIZER, attendees=ATTENDEES, recurrence_id=SINGLE.start)


def test_vtimezone_for_an_irregular_zone_lists_the_onsets() -> None:
    # Morocco leaves summer time for Ramadan, which no yearly rule describes.
    component = Timezone.from_ical(vtimezone("Africa/Casablanca", reference_year=2026).to_ical())
    assert all("RRULE" not in item and "RDATE" not in item for item in component.subcomponents)
    window = utc(2026, 1, 1), utc(2028, 1, 1)
    expected = zoneinfo_transitions("Africa/Casablanca", *window)
    assert len(expected) == 4
    assert vtimezone_transitions(component, *window) == expected
