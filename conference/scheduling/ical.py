"""iCalendar (RFC 5545) rendering for calendar feeds and e-mailed invitations (RFC 5546). Pure.

Everything here is deterministic: the same input always gives the same bytes, so a feed's
strong ETag (a hash of the body) only changes when a meeting does. Nothing reads the clock:
DTSTAMP is the meeting's last change.

Choices that clients force on us:

* Single meetings are written in UTC (``DTSTART:...Z``); every client reads that the same way.
* A series keeps its wall-clock time in its own zone, so it is written with ``TZID=<IANA name>``
  and a VTIMEZONE whose transitions are yearly RRULEs (``BYMONTH=3;BYDAY=2SU``). Outlook mishandles
  the RDATE lists that generic generators produce, so :func:`vtimezone` derives the rules itself.
* ``X-PUBLISHED-TTL`` is written as the literal duration text and ``REFRESH-INTERVAL`` is typed
  ``VALUE=DURATION``.
* Feeds carry no ORGANIZER and no ATTENDEE: a feed is read by calendar apps, not by people
  who should be able to see who else takes part.
* Every event is ``CLASS:PRIVATE``, so a calendar shared onwards by its owner shows busy time
  without the details.
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vRecur,
    vText,
)

FEED_PRODID = "-//Case Conference//Calendar feed//EN"
INVITATION_PRODID = "-//Case Conference//Invitation//EN"

# The year a VTIMEZONE's rules are anchored in: its DTSTART is the first onset of the rule that year.
_BASE_YEAR = 1970
# How many years after the reference year a candidate transition rule is checked against.
_RULE_CHECK_YEARS = 8
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RECUR_PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_EMAIL = re.compile(r"[^\s@:;,<>\"()\[\]\\]+@[^\s@:;,<>\"()\[\]\\]+")
_TIME = r"T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?"
_DURATION = re.compile(rf"P(?:(\d+)W|(\d+)D(?:{_TIME})?|{_TIME})")  # RFC 5545 dur-value, positive
_ROLES = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT"}


@dataclass(frozen=True)
class Occurrence:
    """An override of one occurrence of a series: moved, or cancelled."""

    recurrence_id: datetime  # the original start, UTC
    start: datetime  # UTC
    end: datetime  # UTC
    cancelled: bool
    sequence: int
    last_modified: datetime  # UTC


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    sequence: int
    last_modified: datetime  # UTC; also DTSTAMP (never "now")
    summary: str  # generic, no health information
    url: str  # the meeting page (requires sign-in); no tokens
    start: datetime  # UTC, first occurrence
    end: datetime  # UTC
    time_zone: str  # IANA; used only for series (wall-clock recurrence)
    cancelled: bool = False
    rrule: str | None = None  # e.g. "FREQ=WEEKLY;COUNT=10" or with UNTIL=...Z
    exdates: tuple[datetime, ...] = ()  # original starts (UTC) of cancelled occurrences
    overrides: tuple[Occurrence, ...] = ()
    location: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Person:
    name: str
    email: str


# --------------------------------------------------------------------------------------------
# Feeds


def render_feed(
    events: Sequence[CalendarEvent],
    *,
    calendar_name: str,
    refresh: str = "PT1H",
    calendar_description: str | None = None,
) -> bytes:
    """A subscribable ``METHOD:PUBLISH`` calendar with every event (cancelled ones included).

    Events are ordered by start, then UID. A VTIMEZONE is written for each zone that a series
    uses, anchored in the year of the earliest series start in that zone.
    """
    refresh_text = _duration_text(refresh)
    ordered = sorted(events, key=lambda event: (_utc(event.start, "start"), event.uid))
    uids = [event.uid for event in ordered]
    if len(set(uids)) != len(uids):
        duplicated = sorted({uid for uid in uids if uids.count(uid) > 1})
        raise ValueError(f"duplicate event UIDs in a feed: {', '.join(duplicated)}")

    cal = _calendar_component(FEED_PRODID, "PUBLISH")
    # No calendar-level UID (RFC 7986 allows one): vdirsyncer takes it for an event's UID and merges
    # the first event into it, so that event vanishes from synced calendars.
    cal.add("name", _line_text(calendar_name, "calendar_name"))
    cal.add("x-wr-calname", _line_text(calendar_name, "calendar_name"))
    if calendar_description:
        cal.add("description", calendar_description)
        cal.add("x-wr-caldesc", calendar_description)
    cal.add("refresh-interval", vText(refresh_text), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vText(refresh_text))

    for timezone_component in _timezones(ordered):
        cal.add_component(timezone_component)
    for event in ordered:
        for component in _feed_components(event):
            cal.add_component(component)
    return bytes(cal.to_ical())


def _feed_components(event: CalendarEvent) -> list[Event]:
    _check_event(event)
    master = _master(event, cancelled=event.cancelled, extra_exdates=())
    components = [master]
    if event.rrule is not None:
        zone = _zone(event.time_zone)
        for occurrence in sorted(event.overrides, key=lambda item: _utc(item.recurrence_id, "recurrence_id")):
            components.append(_override(event, occurrence, zone, cancelled=event.cancelled or occurrence.cancelled))
    return components


# --------------------------------------------------------------------------------------------
# Invitations (iTIP)


def render_invitation(
    event: CalendarEvent,
    *,
    method: Literal["REQUEST", "CANCEL"],
    organizer: Person,
    attendees: Sequence[tuple[Person, str]],
    recurrence_id: datetime | None = None,
) -> bytes:
    """The ``text/calendar`` part of an invitation e-mail; send it with ``method=<method>``.

    REQUEST sends the whole meeting (for a series: the rule, cancelled occurrences as EXDATE and
    one component per moved occurrence); an update is the same UID with a higher SEQUENCE.
    CANCEL cancels the meeting, or with ``recurrence_id`` (original start, UTC) one occurrence.
    ``attendees`` pairs each invitee with ``"required"`` or ``"optional"``.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method: {method!r}")
    _check_event(event)
    organizer_address = _address(organizer)
    attendee_addresses = _attendees(attendees)

    def people(component: Event) -> Event:
        component.add("organizer", organizer_address)
        for address in attendee_addresses:
            component.add("attendee", address)
        return component

    cal = _calendar_component(INVITATION_PRODID, method)
    for timezone_component in _timezones([event]):
        cal.add_component(timezone_component)

    if method == "REQUEST":
        if recurrence_id is not None:
            raise ValueError("to change one occurrence, send the whole series (REQUEST without recurrence_id)")
        if event.cancelled:
            raise ValueError("a cancelled meeting is sent with method CANCEL")
        cancelled_ids = tuple(item.recurrence_id for item in event.overrides if item.cancelled)
        cal.add_component(people(_master(event, cancelled=False, extra_exdates=cancelled_ids)))
        if event.rrule is not None:
            zone = _zone(event.time_zone)
            moved = sorted(
                (item for item in event.overrides if not item.cancelled),
                key=lambda item: _utc(item.recurrence_id, "recurrence_id"),
            )
            for occurrence in moved:
                cal.add_component(people(_override(event, occurrence, zone, cancelled=False)))
    elif recurrence_id is None:
        cal.add_component(people(_master(event, cancelled=True, extra_exdates=())))
    else:
        cal.add_component(people(_cancelled_occurrence(event, _utc(recurrence_id, "recurrence_id"))))
    return bytes(cal.to_ical())


def _cancelled_occurrence(event: CalendarEvent, original: datetime) -> Event:
    if event.rrule is None:
        raise ValueError("recurrence_id is only for a series; cancel a single meeting without it")
    zone = _zone(event.time_zone)
    override = next((item for item in event.overrides if _utc(item.recurrence_id, "recurrence_id") == original), None)
    if override is None:
        start, end = original, original + (_utc(event.end, "end") - _utc(event.start, "start"))
        sequence, stamp = event.sequence, _utc(event.last_modified, "last_modified")
    else:
        start, end = _utc(override.start, "start"), _utc(override.end, "end")
        # The occurrence's own SEQUENCE may already be above the series'; it has to go up, not down.
        sequence = max(event.sequence, override.sequence)
        stamp = max(_utc(event.last_modified, "last_modified"), _utc(override.last_modified, "last_modified"))
    component = Event()
    component.add("uid", event.uid)
    component.add("recurrence-id", _local(original, zone, "recurrence_id"))
    component.add("sequence", sequence)
    component.add("dtstamp", stamp)
    component.add("last-modified", stamp)
    component.add("dtstart", _local(start, zone, "start"))
    component.add("dtend", _local(end, zone, "end"))
    _describe(component, event)
    component.add("status", "CANCELLED")
    component.add("transp", "TRANSPARENT")
    component.add("class", "PRIVATE")
    return component


def _address(person: Person) -> vCalAddress:
    email = person.email.strip()
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"not an e-mail address: {person.email!r}")
    address = vCalAddress(f"mailto:{email}")
    name = " ".join(person.name.split())
    if name:
        address.params["CN"] = name
    return address


def _attendees(attendees: Sequence[tuple[Person, str]]) -> list[vCalAddress]:
    result: dict[str, vCalAddress] = {}
    for person, role in attendees:
        if role not in _ROLES:
            raise ValueError(f"attendee role must be 'required' or 'optional', not {role!r}")
        address = _address(person)
        key = person.email.strip().lower()
        if key in result:
            raise ValueError(f"attendee listed twice: {person.email}")
        address.params["ROLE"] = _ROLES[role]
        address.params["PARTSTAT"] = "NEEDS-ACTION"
        address.params["RSVP"] = "FALSE"
        result[key] = address
    return [result[key] for key in sorted(result)]


# --------------------------------------------------------------------------------------------
# Components shared by feeds and invitations


def _calendar_component(prodid: str, method: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", prodid)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    return cal


def _master(event: CalendarEvent, *, cancelled: bool, extra_exdates: Iterable[datetime]) -> Event:
    stamp = _utc(event.last_modified, "last_modified")
    component = Event()
    component.add("uid", event.uid)
    component.add("sequence", event.sequence)
    component.add("dtstamp", stamp)
    component.add("last-modified", stamp)
    if event.rrule is None:
        component.add("dtstart", _utc(event.start, "start"))
        component.add("dtend", _utc(event.end, "end"))
    else:
        zone = _zone(event.time_zone)
        component.add("dtstart", _local(_utc(event.start, "start"), zone, "start"))
        component.add("dtend", _local(_utc(event.end, "end"), zone, "end"))
        component.add("rrule", _recur(event.rrule))
        exdates = {_utc(value, "exdate") for value in (*event.exdates, *extra_exdates)}
        # One EXDATE line per date: some clients read only the first value of a list.
        for value in sorted(exdates):
            component.add("exdate", _local(value, zone, "exdate"))
    _describe(component, event)
    _status(component, cancelled)
    return component


def _override(event: CalendarEvent, occurrence: Occurrence, zone: ZoneInfo, *, cancelled: bool) -> Event:
    stamp = _utc(occurrence.last_modified, "last_modified")
    component = Event()
    component.add("uid", event.uid)
    component.add("recurrence-id", _local(_utc(occurrence.recurrence_id, "recurrence_id"), zone, "recurrence_id"))
    component.add("sequence", occurrence.sequence)
    component.add("dtstamp", stamp)
    component.add("last-modified", stamp)
    component.add("dtstart", _local(_utc(occurrence.start, "start"), zone, "start"))
    component.add("dtend", _local(_utc(occurrence.end, "end"), zone, "end"))
    _describe(component, event)
    _status(component, cancelled)
    return component


def _describe(component: Event, event: CalendarEvent) -> None:
    component.add("summary", event.summary)
    component.add("url", event.url)
    if event.location:
        component.add("location", event.location)
    if event.description:
        component.add("description", event.description)


def _status(component: Event, cancelled: bool) -> None:
    component.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    # A cancelled meeting that a client still shows (struck through) must not block free/busy time.
    component.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    component.add("class", "PRIVATE")


def _check_event(event: CalendarEvent) -> None:
    if not event.uid or any(char in event.uid for char in "\r\n"):
        raise ValueError(f"event UID must be one non-empty line: {event.uid!r}")
    if event.sequence < 0:
        raise ValueError(f"{event.uid}: SEQUENCE must not be negative")
    if _utc(event.end, "end") <= _utc(event.start, "start"):
        raise ValueError(f"{event.uid}: end must be after start")
    _check_url(event.url)
    if event.rrule is None:
        if event.exdates or event.overrides:
            raise ValueError(f"{event.uid}: exdates and overrides need a recurrence rule")
        return
    exdates = {_utc(value, "exdate") for value in event.exdates}
    seen: set[datetime] = set()
    for occurrence in event.overrides:
        original = _utc(occurrence.recurrence_id, "recurrence_id")
        if original in seen:
            raise ValueError(f"{event.uid}: two overrides of the occurrence at {original.isoformat()}")
        if original in exdates:
            raise ValueError(f"{event.uid}: the occurrence at {original.isoformat()} is both excluded and overridden")
        if occurrence.sequence < 0:
            raise ValueError(f"{event.uid}: SEQUENCE must not be negative")
        if _utc(occurrence.end, "end") <= _utc(occurrence.start, "start"):
            raise ValueError(f"{event.uid}: an occurrence must end after it starts")
        seen.add(original)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"event URL must be an absolute http(s) URL: {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        # Feeds end up in third-party calendars: the link must not carry anything that grants access.
        raise ValueError("event URL must not carry a query, fragment or credentials")


def _recur(rule: str) -> vRecur:
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if any(char in text for char in "\r\n"):
        raise ValueError("recurrence rule must be one line")
    recur: vRecur = vRecur.from_ical(text)
    unknown = sorted(set(recur) - _RECUR_PARTS)
    if unknown:
        raise ValueError(f"unsupported recurrence rule parts: {', '.join(unknown)}")
    if "FREQ" not in recur:
        raise ValueError("recurrence rule needs FREQ")
    if "COUNT" in recur and "UNTIL" in recur:
        raise ValueError("recurrence rule may not have both COUNT and UNTIL")
    for until in recur.get("UNTIL", []):
        # With a TZID start, RFC 5545 requires UNTIL in UTC.
        if not isinstance(until, datetime) or until.utcoffset() != timedelta(0):
            raise ValueError("UNTIL must be a UTC date-time such as 20270131T170000Z")
    return recur


# --------------------------------------------------------------------------------------------
# Times


def _utc(value: datetime, what: str) -> datetime:
    """The value as a UTC datetime; naive or non-UTC values are rejected rather than guessed."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got a naive datetime")
    if offset != timedelta(0):
        raise ValueError(f"{what} must be in UTC, got offset {offset}")
    return value.astimezone(UTC)


def _local(value: datetime, zone: ZoneInfo, what: str) -> datetime:
    """The wall time in ``zone``; it must read back to the same instant.

    A wall time in the repeated hour when clocks go back means its first instance (RFC 5545), so
    the second instance cannot be written with a TZID.
    """
    local = value.astimezone(zone)
    if local.replace(fold=0).astimezone(UTC) != value:
        raise ValueError(
            f"{what} {value.isoformat()} falls in the repeated hour of {zone.key}; it cannot be written as a local time"
        )
    return local.replace(fold=0)


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone: {name!r}") from error


def _duration_text(text: str) -> str:
    """A positive RFC 5545 duration, as written (``PT1H``, ``PT30M``, ``P1D``)."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(int(part) for part in match.groups() if part):
        raise ValueError(f"refresh must be a positive iCalendar duration such as PT1H, got {text!r}")
    return text


def _line_text(value: str, what: str) -> str:
    if not value or any(char in value for char in "\r\n"):
        raise ValueError(f"{what} must be one non-empty line")
    return value


# --------------------------------------------------------------------------------------------
# VTIMEZONE


def _timezones(events: Iterable[CalendarEvent]) -> list[Timezone]:
    """One VTIMEZONE per zone used by a series, anchored in the year of its earliest start."""
    years: dict[str, int] = {}
    for event in events:
        if event.rrule is None:
            continue
        year = _utc(event.start, "start").astimezone(_zone(event.time_zone)).year
        years[event.time_zone] = min(year, years.get(event.time_zone, year))
    return [vtimezone(name, reference_year=years[name]) for name in sorted(years)]


@dataclass(frozen=True)
class _State:
    offset: timedelta
    dst: timedelta
    name: str


@dataclass(frozen=True)
class _Transition:
    at: datetime  # UTC
    before: _State
    after: _State

    @property
    def wall(self) -> datetime:
        """The local wall time of the transition, on the clock before it (RFC 5545's DTSTART)."""
        return (self.at + self.before.offset).replace(tzinfo=None)


@dataclass(frozen=True)
class _Rule:
    """When a transition falls within its month, as a yearly rule."""

    month: int
    weekday: int | None  # 0 = Monday; None for a fixed day of the month
    nth: int = 0  # 1..4, or -1 for the last such weekday
    on_or_after: int = 0  # the weekday on or after this day (tzdata's "Sun>=8"); or the fixed day

    def day_in(self, year: int) -> int | None:
        days = _calendar.monthrange(year, self.month)[1]
        if self.weekday is None:
            return self.on_or_after if self.on_or_after <= days else None
        first_weekday = date(year, self.month, 1).weekday()
        if self.nth > 0:
            return 1 + (self.weekday - first_weekday) % 7 + 7 * (self.nth - 1)
        if self.nth == -1:
            last_weekday = date(year, self.month, days).weekday()
            return days - (last_weekday - self.weekday) % 7
        if self.on_or_after + 6 > days:
            return None
        return self.on_or_after + (self.weekday - date(year, self.month, self.on_or_after).weekday()) % 7

    def recur(self) -> vRecur:
        parts: dict[str, object] = {"FREQ": "YEARLY", "BYMONTH": [self.month]}
        if self.weekday is None:
            parts["BYMONTHDAY"] = [self.on_or_after]
        elif self.nth:
            parts["BYDAY"] = [f"{self.nth}{_WEEKDAYS[self.weekday]}"]
        else:
            parts["BYDAY"] = [_WEEKDAYS[self.weekday]]
            parts["BYMONTHDAY"] = list(range(self.on_or_after, self.on_or_after + 7))
        recur: vRecur = vRecur(parts)
        return recur


@dataclass(frozen=True)
class _Observance:
    daylight: bool
    start: datetime  # local wall time, naive
    offset_from: timedelta
    offset_to: timedelta
    name: str
    rule: _Rule | None


def vtimezone(tzid: str, *, reference_year: int) -> Timezone:
    """A VTIMEZONE for ``tzid`` whose STANDARD/DAYLIGHT onsets are yearly RRULEs.

    The rules are read off zoneinfo's transitions in ``reference_year`` (nth or last weekday of
    the month; tzdata's "weekday on or after day N" or a fixed day where that is what fits the
    following years) and anchored in 1970. A zone without transitions that year gets one
    STANDARD with no rule. A zone whose transitions that year are not a plain summer/winter
    pair gets one observance per transition of that year and the next, without rules.
    """
    component = Timezone()
    component.add("tzid", tzid)
    for observance in _observances(tzid, reference_year):
        sub = TimezoneDaylight() if observance.daylight else TimezoneStandard()
        sub.add("dtstart", observance.start)
        sub.add("tzoffsetfrom", observance.offset_from)
        sub.add("tzoffsetto", observance.offset_to)
        sub.add("tzname", observance.name)
        if observance.rule is not None:
            sub.add("rrule", observance.rule.recur())
        component.add_component(sub)
    return component


@lru_cache(maxsize=128)
def _observances(tzid: str, year: int) -> tuple[_Observance, ...]:
    zone = _zone(tzid)
    found = _transitions(zone, year)
    if not found:
        state = _state(zone, datetime(year, 1, 1, tzinfo=UTC))
        return (_Observance(False, datetime(_BASE_YEAR, 1, 1), state.offset, state.offset, state.name, None),)
    pair = len(found) == 2 and found[0].before == found[1].after and found[0].after == found[1].before
    if pair and found[0].before.offset != found[0].after.offset:
        observances = []
        for transition in found:
            rule = _best_rule(zone, transition, year)
            if rule is None:
                break
            day = rule.day_in(_BASE_YEAR)
            if day is None:
                break
            wall = transition.wall
            observances.append(
                _Observance(
                    daylight=transition.after.offset > transition.before.offset,
                    start=datetime.combine(date(_BASE_YEAR, rule.month, day), wall.time()),
                    offset_from=transition.before.offset,
                    offset_to=transition.after.offset,
                    name=transition.after.name,
                    rule=rule,
                )
            )
        else:
            return tuple(sorted(observances, key=lambda item: item.start))
    # Irregular: list that year's and the next year's onsets, after the state the year starts in.
    # Clocks going forward start DAYLIGHT; so does the year's first state if clocks next go back.
    # Its TZOFFSETFROM is the state it alternates with: readers take TO - FROM as the DST amount.
    first = found[0]
    observances = [
        _Observance(
            daylight=first.after.offset < first.before.offset,
            start=datetime(_BASE_YEAR, 1, 1),
            offset_from=first.after.offset,
            offset_to=first.before.offset,
            name=first.before.name,
            rule=None,
        )
    ]
    for transition in (*found, *_transitions(zone, year + 1)):
        observances.append(
            _Observance(
                daylight=transition.after.offset > transition.before.offset,
                start=transition.wall,
                offset_from=transition.before.offset,
                offset_to=transition.after.offset,
                name=transition.after.name,
                rule=None,
            )
        )
    return tuple(observances)


def _best_rule(zone: ZoneInfo, transition: _Transition, year: int) -> _Rule | None:
    """The simplest rule that gives this transition and the most following years' alike, if any."""
    wall = transition.wall
    month, day, weekday = wall.month, wall.day, wall.weekday()
    days = _calendar.monthrange(year, month)[1]
    candidates: list[_Rule] = []
    if day <= 28:
        candidates.append(_Rule(month, weekday, nth=(day - 1) // 7 + 1))
    if day + 7 > days:
        candidates.append(_Rule(month, weekday, nth=-1))
    candidates.extend(_Rule(month, weekday, on_or_after=first) for first in range(max(1, day - 6), day + 1))
    candidates.append(_Rule(month, None, on_or_after=day))

    later: list[_Transition | None] = []
    for later_year in range(year + 1, year + 1 + _RULE_CHECK_YEARS):
        same = [
            item
            for item in _transitions(zone, later_year)
            if (item.before, item.after) == (transition.before, transition.after)
        ]
        later.append(same[0] if len(same) == 1 else None)

    best: _Rule | None = None
    best_run = -1
    for candidate in candidates:
        if candidate.day_in(year) != day or candidate.day_in(_BASE_YEAR) is None:
            continue
        run = 0
        for later_year, item in enumerate(later, start=year + 1):
            found_day = candidate.day_in(later_year)
            if item is None or found_day is None:
                break
            expected = datetime.combine(date(later_year, month, found_day), wall.time())
            if item.wall != expected:
                break
            run += 1
        if run > best_run:  # candidates are in order of preference: only a longer run wins
            best, best_run = candidate, run
    # A rule that does not even give next year's transition is no rule (Morocco follows Ramadan).
    return best if best_run >= 1 else None


def _state(zone: ZoneInfo, instant: datetime) -> _State:
    local = instant.astimezone(zone)
    return _State(local.utcoffset() or timedelta(0), local.dst() or timedelta(0), local.tzname() or "")


@lru_cache(maxsize=1024)
def _transitions(zone: ZoneInfo, year: int) -> tuple[_Transition, ...]:
    """zoneinfo's transitions with a UTC instant in ``year``, to the second."""
    found = []
    day = timedelta(days=1)
    # Start a second early, so that a transition at the very start of the year is seen.
    moment = datetime(year, 1, 1, tzinfo=UTC) - timedelta(seconds=1)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    current = _state(zone, moment)
    while moment < end:
        following = min(moment + day, end)
        state = _state(zone, following)
        if state != current:
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if _state(zone, middle) == current:
                    low = middle
                else:
                    high = middle
            if high < end:
                found.append(_Transition(at=high, before=current, after=state))
            current = state
        moment = following
    return tuple(found)
