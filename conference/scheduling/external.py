"""Busy times from a clinician's own calendar, connected by its ICS address.

A clinician connects the "secret address" their calendar app publishes (Google, Outlook, iCloud,
Fastmail...). Slot finding needs only *when* they are busy, so nothing else leaves this module:
no titles, descriptions, locations or attendees, and no raw calendar text in error messages either
(a parser's message quotes the offending line, which may be an event's title).

Three steps, kept separate so the parsing can be tested without a network:

* :func:`normalise_feed_url` checks what the person pasted;
* :func:`fetch_ics` downloads the feed, refusing addresses inside our own network (the server
  fetches a URL a user chose, the classic server-side request forgery);
* :func:`busy_from_ics` turns the feed into merged busy intervals in UTC. It is pure and
  CPU-bound: async code should call it through ``asyncio.to_thread``.

Every failure is an :class:`ExternalCalendarError` whose message is written for the person who
connected the calendar. Messages never include the address itself: it is a credential (anyone
holding a secret address can read the whole calendar), and it may carry a user name and password.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx2
import icalendar
import recurring_ical_events  # type: ignore[import-untyped]  # the package ships no type information

ERROR_KINDS = frozenset({"url", "unreachable", "http", "too_large", "not_calendar", "malformed"})

MAX_URL_LENGTH = 2000
MAX_REDIRECTS = 5

# webcal:// is only a hint to open a calendar app; every provider serves those feeds over HTTPS.
_SCHEMES = {"http": "http", "https": "https", "webcal": "https", "webcals": "https"}

# Floating and all-day times get their zone only after expansion, so the library is asked for a
# day more on each side: no zone is a day away from UTC. The result is clipped to the real window.
_QUERY_MARGIN = timedelta(days=1)

# dateutil walks every repeat rule from its first occurrence, not from the window, so the cost of a
# feed grows with the age and frequency of its series. About a million steps is a few seconds of
# CPU; an hourly series started in 1970 is half of that, a daily one is 2%.
_MAX_RULE_STEPS = 1_000_000

# Properties that decide when, or whether, an event makes someone busy. A value of one of these that
# could not be read would silently lose busy time, so it fails the import; a broken SUMMARY or GEO
# does not matter here.
_TIME_PROPERTIES = frozenset(
    {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "TRANSP", "STATUS"}
)

# Shortest possible length of one FREQ period, so step counts are estimated from above.
_FREQ_PERIOD = {
    "SECONDLY": timedelta(seconds=1),
    "MINUTELY": timedelta(minutes=1),
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
    "MONTHLY": timedelta(days=28),
    "YEARLY": timedelta(days=365),
}
_FREQ_RANK = {name: rank for rank, name in enumerate(_FREQ_PERIOD)}

_BOM = b"\xef\xbb\xbf"
_CALENDAR_START = b"BEGIN:VCALENDAR"

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class BusyInterval:
    start: datetime  # UTC, tz-aware
    end: datetime  # UTC, tz-aware; always after start


class ExternalCalendarError(Exception):
    """Message is for the person who connected the calendar: what is wrong and what to do.

    ``kind`` lets callers react without parsing text: ``url`` (the address cannot be used),
    ``unreachable`` (no answer: name not found, connection refused, timeout), ``http`` (the
    server answered with an error status, or redirected too often), ``too_large`` (the feed, or
    what it expands to, is beyond our limits), ``not_calendar`` (the address serves something
    else, typically a web page) and ``malformed`` (a calendar, but damaged).
    """

    def __init__(self, message: str, *, kind: str) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown ExternalCalendarError kind {kind!r}")
        super().__init__(message)
        self.message = message
        self.kind = kind


# --------------------------------------------------------------------------------------- address


def normalise_feed_url(url: str) -> str:
    """The address to fetch, or :class:`ExternalCalendarError` (kind ``url``) saying what is wrong.

    Accepts http, https, webcal and webcals (the last two become https). User names and passwords in
    the address are kept, since some self-hosted calendars need them; they are never put in a
    message. The fragment is dropped: it is never sent to a server.
    """
    candidate = url.strip()
    if not candidate:
        raise _url_error("Paste your calendar's address: it starts with https:// or webcal://.")
    if len(candidate) > MAX_URL_LENGTH:
        raise _url_error(
            f"That address is longer than {MAX_URL_LENGTH:,} characters, so it is not a calendar address. "
            "Copy the calendar's address again from its sharing settings."
        )
    if any(character.isspace() or not character.isprintable() for character in candidate):
        raise _url_error(
            "The address contains spaces or invisible characters. Copy it again from your calendar's "
            "sharing settings and paste it without changes."
        )
    try:
        parts = urlsplit(candidate)
        parts.port  # noqa: B018  # reading it validates the port: ValueError if not a number or out of range
    except ValueError:
        raise _url_error(
            "That is not a valid web address. Copy the calendar's address again from its sharing settings."
        ) from None
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise _url_error(
            "Only web calendar addresses can be connected: they start with https://, http:// or webcal://."
        )
    if not parts.hostname:
        raise _url_error("The address has no server name after the '//'. Copy it again from your calendar's settings.")
    normalised = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
    try:
        httpx2.URL(normalised)
    except (httpx2.InvalidURL, ValueError):
        raise _url_error(
            "That is not a valid web address. Copy the calendar's address again from its sharing settings."
        ) from None
    return normalised


def _url_error(message: str) -> ExternalCalendarError:
    return ExternalCalendarError(message, kind="url")


# ------------------------------------------------------------------------------------- parsing


def busy_from_ics(
    data: bytes,
    window_start: datetime,
    window_end: datetime,
    *,
    default_zone: str = "UTC",
    max_events: int = 20000,
) -> list[BusyInterval]:
    """The busy intervals of an iCalendar feed within ``[window_start, window_end)``, in UTC.

    Pure: no I/O, no clock. Repeating events are expanded (RRULE, RDATE, EXDATE and moved or
    cancelled occurrences given by RECURRENCE-ID) by ``recurring-ical-events``.

    What counts as busy:

    * every VEVENT occurrence, unless it is ``TRANSP:TRANSPARENT`` (shown as free) or
      ``STATUS:CANCELLED``. Tentative events count: offering a slot the clinician may have promised
      elsewhere is worse than offering one fewer;
    * an all-day event (DATE values) blocks whole local days in ``default_zone``: the clinician's day,
      from midnight to midnight, whatever zone the feed was exported in. RFC 5545 makes events opaque
      unless they say otherwise, so an all-day event without TRANSP is busy; calendar apps mark
      all-day events "free" by writing TRANSP:TRANSPARENT, and those are skipped;
    * floating times (no zone) are local times in ``default_zone``, as is a TZID that names no known
      zone. A calendar that declares its own zone with X-WR-TIMEZONE (Google does) is read in that
      zone instead, because that is what its times mean;
    * an event without DTEND lasts its DURATION; without either, an all-day event lasts one day and a
      timed one lasts no time at all, so it blocks nothing.

    The result is clipped to the window, sorted, and merged: overlapping or touching intervals become
    one, which is all slot finding needs and reveals less about the calendar.

    Raises :class:`ExternalCalendarError`: ``not_calendar`` if the data is not iCalendar at all,
    ``malformed`` if it is damaged (cut off, unreadable lines, dates or repeat rules, events without a
    start), ``too_large`` if the window holds more than ``max_events`` occurrences or the repeat rules
    would take too long to expand. Raises ValueError for a naive or empty window or an unknown
    ``default_zone``: those are the caller's mistakes, not the calendar's.
    """
    start_utc, end_utc = _window(window_start, window_end)
    zone = _zone(default_zone)
    if max_events < 1:
        raise ValueError("max_events must be at least 1")
    query_start, query_end = start_utc - _QUERY_MARGIN, end_utc + _QUERY_MARGIN

    spans: list[tuple[datetime, datetime]] = []
    occurrences_seen = 0
    for calendar in _parse_calendars(data):
        _check_components(calendar)
        _check_expansion_cost(calendar, query_start, query_end, zone, max_events)
        occurrences = _expand(calendar, query_start, query_end)
        occurrences_seen += len(occurrences)
        if occurrences_seen > max_events:
            raise _too_many_events(max_events)
        for occurrence in occurrences:
            if _is_busy(occurrence):
                spans.append(_occurrence_span(occurrence, zone))
    return _merge(spans, start_utc, end_utc)


def _window(window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    if window_start.utcoffset() is None or window_end.utcoffset() is None:
        raise ValueError("window_start and window_end must be timezone-aware")
    if window_end <= window_start:
        raise ValueError("window_end must be after window_start")
    return window_start.astimezone(UTC), window_end.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _without_preamble(data: bytes) -> bytes:
    """``data`` without a leading byte-order mark and whitespace, which the parser does not expect."""
    return data.lstrip().removeprefix(_BOM).lstrip()


def _looks_like_calendar(data: bytes) -> bool:
    return _without_preamble(data)[: len(_CALENDAR_START)].upper() == _CALENDAR_START


_NOT_CALENDAR = (
    "The address does not lead to a calendar file (it may be a web page, such as a sign-in or sharing "
    "page). In your calendar's settings, copy the address labelled 'iCal', 'ICS' or 'secret address'."
)
_DAMAGED = (
    "The calendar file is damaged and could not be read. If it opens in your calendar app, try connecting "
    "it again later; otherwise ask whoever provides the calendar to repair it."
)
_CUT_OFF = (
    "The calendar file is incomplete: it stops before its end. This usually means the download was "
    "interrupted; try again later."
)


def _parse_calendars(data: bytes) -> list[icalendar.Calendar]:
    if not _looks_like_calendar(data):
        raise ExternalCalendarError(_NOT_CALENDAR, kind="not_calendar")
    # Bytes, never str: icalendar treats a str without line breaks as a file path to read.
    try:
        components = icalendar.Calendar.from_ical(_without_preamble(data), multiple=True)
    except MemoryError:
        raise
    except Exception:
        # Any library exception means unreadable input. Its message quotes raw calendar lines, which may
        # hold event titles, so it is dropped rather than chained.
        message = _DAMAGED if b"END:VCALENDAR" in data.upper() else _CUT_OFF
        raise ExternalCalendarError(message, kind="malformed") from None
    if not components:
        raise ExternalCalendarError(_CUT_OFF, kind="malformed")
    if any(component.name != "VCALENDAR" for component in components):
        raise ExternalCalendarError(_DAMAGED, kind="malformed")
    return components


def _check_components(calendar: icalendar.Component) -> None:
    """Refuse events whose timing could not be read, rather than dropping their busy time."""
    if str(calendar.get("CALSCALE", "GREGORIAN")).strip().upper() != "GREGORIAN":
        raise ExternalCalendarError(
            "The calendar uses a non-Gregorian calendar system, which can't be imported. Connect a calendar "
            "that uses ordinary dates.",
            kind="malformed",
        )
    declared_zone = calendar.get("X-WR-TIMEZONE")
    if declared_zone is not None:
        try:
            ZoneInfo(str(declared_zone).strip())
        except (ZoneInfoNotFoundError, ValueError):
            # A zone name nobody knows says nothing about the times, so the calendar is read as if it
            # declared none (floating times fall back to default_zone) rather than refused.
            del calendar["X-WR-TIMEZONE"]
    for component in calendar.walk():
        if component.name in ("VTIMEZONE", "STANDARD", "DAYLIGHT") and component.errors:
            raise ExternalCalendarError(
                "The calendar has a time zone definition that can't be read, so its times can't be placed. "
                "Ask whoever provides the calendar to repair it, or connect a different calendar.",
                kind="malformed",
            )
        if component.name != "VEVENT":
            continue
        # A None name is a content line that could not even be split into name and value: it may have
        # been a DTSTART or an RRULE, so it counts.
        if any(name is None or name.upper() in _TIME_PROPERTIES for name, _ in component.errors):
            raise ExternalCalendarError(
                "The calendar has an event whose date, time or repeat rule can't be read. Open your calendar "
                "app, fix or delete that event, then try again.",
                kind="malformed",
            )
        if "DTSTART" not in component:
            raise ExternalCalendarError(
                "The calendar has an event without a start time, which the calendar standard does not allow. "
                "Fix or delete that event in your calendar app, then try again.",
                kind="malformed",
            )


def _check_expansion_cost(
    calendar: icalendar.Component, query_start: datetime, query_end: datetime, zone: ZoneInfo, max_events: int
) -> None:
    """Refuse, before expanding, repeat rules that would take too long or produce too much.

    The library materialises every occurrence in the window, and dateutil walks each rule from its
    first occurrence; counting afterwards would be too late. The estimate errs high.
    """
    steps = 0
    in_window = 0
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        if rules is None:
            continue
        first = _to_utc(_time_value(event, "DTSTART"), zone)
        length = _event_length(event, zone)
        for rule in rules if isinstance(rules, list) else [rules]:
            period, expansion, count, until = _rule_shape(rule, zone)
            last = query_end if until is None else min(query_end, until)
            rule_steps = _periods(first, last, period) * expansion
            rule_in_window = _periods(max(first, query_start - length), last, period) * expansion
            if count is not None:
                rule_steps, rule_in_window = min(rule_steps, count), min(rule_in_window, count)
            steps += rule_steps
            in_window += rule_in_window
    if steps > _MAX_RULE_STEPS:
        raise ExternalCalendarError(
            "The calendar has events that repeat so often (for example every minute) that they can't be "
            "worked out in reasonable time. Change or delete those repeating events, then try again.",
            kind="too_large",
        )
    if in_window > max_events:
        raise _too_many_events(max_events)


def _rule_shape(rule: Any, zone: ZoneInfo) -> tuple[timedelta, int, int | None, datetime | None]:
    """(period between rule starts, occurrences per period at most, COUNT, UNTIL in UTC)."""
    freq = _rule_values(rule, "FREQ")
    name = str(freq[0]).upper() if freq else ""
    if name not in _FREQ_PERIOD:
        raise ExternalCalendarError(
            "The calendar has a repeating event whose repeat rule can't be read. Open your calendar app, fix "
            "or delete that event, then try again.",
            kind="malformed",
        )
    interval = _rule_int(rule, "INTERVAL") or 1
    count = _rule_int(rule, "COUNT")
    until_values = _rule_values(rule, "UNTIL")
    # A DATE until includes its whole day; a day more keeps the estimate high in every zone.
    until = _to_utc(until_values[0], zone) + timedelta(days=1) if until_values else None
    return _FREQ_PERIOD[name] * interval, _expansion(rule, name), count, until


def _expansion(rule: Any, freq: str) -> int:
    """How many occurrences one period can produce at most: BYxxx parts finer than FREQ multiply.

    Parts that only filter (BYMONTH in a DAILY rule, say) are counted as 1. Combinations that in fact
    intersect (BYDAY with BYMONTHDAY) are multiplied, which over-estimates, as intended.
    """
    rank = _FREQ_RANK[freq]
    months = len(_rule_values(rule, "BYMONTH"))
    factor = 1
    for part, coarsest_filtering_rank in (("BYSECOND", 0), ("BYMINUTE", 1), ("BYHOUR", 2)):
        if rank > coarsest_filtering_rank:
            factor *= max(1, len(_rule_values(rule, part)))
    days = len(_rule_values(rule, "BYDAY"))
    month_days = len(_rule_values(rule, "BYMONTHDAY"))
    if freq == "WEEKLY":
        factor *= max(1, days)
    elif freq == "MONTHLY":
        factor *= max(1, days * 5) * max(1, month_days)
    elif freq == "YEARLY":
        factor *= max(1, months)
        factor *= max(1, days * (5 if months else 53))
        factor *= max(1, month_days * (1 if months else 12))
        factor *= max(1, len(_rule_values(rule, "BYYEARDAY")))
        factor *= max(1, len(_rule_values(rule, "BYWEEKNO")) * 7)
    return factor


def _rule_values(rule: Any, part: str) -> list[Any]:
    values = rule.get(part)
    if values is None:
        return []
    return list(values) if isinstance(values, list | tuple) else [values]


def _rule_int(rule: Any, part: str) -> int | None:
    values = _rule_values(rule, part)
    if not values:
        return None
    try:
        number = int(values[0])
    except (TypeError, ValueError):
        raise ExternalCalendarError(
            "The calendar has a repeating event whose repeat rule can't be read. Open your calendar app, fix "
            "or delete that event, then try again.",
            kind="malformed",
        ) from None
    return max(number, 1)


def _periods(first: datetime, last: datetime, period: timedelta) -> int:
    """How many rule periods start in [first, last], at most."""
    if last < first:
        return 0
    return (last - first) // period + 1


def _event_length(event: icalendar.Component, zone: ZoneInfo) -> timedelta:
    duration = _time_value(event, "DURATION")
    if isinstance(duration, timedelta):
        return max(duration, timedelta(0))
    end = _time_value(event, "DTEND")
    if end is not None:
        return max(_to_utc(end, zone) - _to_utc(_time_value(event, "DTSTART"), zone), timedelta(0))
    return timedelta(days=1)


def _too_many_events(max_events: int) -> ExternalCalendarError:
    return ExternalCalendarError(
        f"The calendar has more than {max_events:,} events in the period we look at, more than we can "
        "use. Connect a calendar with fewer events, or remove repeating events that are no longer needed.",
        kind="too_large",
    )


def _expand(calendar: icalendar.Component, query_start: datetime, query_end: datetime) -> list[icalendar.Component]:
    try:
        occurrences: list[icalendar.Component] = recurring_ical_events.of(calendar).between(query_start, query_end)
    except MemoryError:
        raise
    except Exception:
        # As in parsing: the library's messages may quote event content, so none of it is kept.
        raise ExternalCalendarError(
            "The calendar has repeating events that can't be worked out (their rules or dates contradict "
            "each other). Fix or delete the repeating events you changed recently, then try again.",
            kind="malformed",
        ) from None
    return occurrences


def _is_busy(occurrence: icalendar.Component) -> bool:
    transparency = str(occurrence.get("TRANSP", "OPAQUE")).strip().upper()
    status = str(occurrence.get("STATUS", "")).strip().upper()
    return transparency != "TRANSPARENT" and status != "CANCELLED"


def _occurrence_span(occurrence: icalendar.Component, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # The library fills in DTEND for every occurrence; the fallbacks follow RFC 5545 all the same.
    start_value = _time_value(occurrence, "DTSTART")
    start = _to_utc(start_value, zone)
    end_value = _time_value(occurrence, "DTEND")
    duration = _time_value(occurrence, "DURATION")
    if end_value is not None:
        end = _to_utc(end_value, zone)
    elif isinstance(duration, timedelta):
        # A duration is exact time, so it is added to the instant, not to the wall clock.
        end = start + duration
    elif isinstance(start_value, datetime):
        end = start
    elif isinstance(start_value, date):
        end = _to_utc(start_value + timedelta(days=1), zone)
    else:
        raise _unreadable_time()
    return start, end


def _time_value(component: icalendar.Component, name: str) -> object:
    """The value of a DTSTART, DTEND or DURATION property, None if there is none."""
    value = component.get(name)
    if value is None:
        return None
    if not isinstance(value, icalendar.vDDDTypes):  # a list, when the property is repeated
        raise _unreadable_time()
    return value.dt


def _to_utc(value: object, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        local = value if value.utcoffset() is not None else value.replace(tzinfo=zone)
        return local.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)
    raise _unreadable_time()


def _unreadable_time() -> ExternalCalendarError:
    return ExternalCalendarError(
        "The calendar has an event whose date or time can't be read. Open your calendar app, fix or delete "
        "that event, then try again.",
        kind="malformed",
    )


def _merge(spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[BusyInterval]:
    clipped = sorted((max(s, start), min(e, end)) for s, e in spans if min(e, end) > max(s, start))
    merged: list[tuple[datetime, datetime]] = []
    for span_start, span_end in clipped:
        if merged and span_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], span_end))
        else:
            merged.append((span_start, span_end))
    return [BusyInterval(span_start, span_end) for span_start, span_end in merged]


# ------------------------------------------------------------------------------------- fetching


async def fetch_ics(
    url: str,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109  # the whole fetch's deadline; callers need not wrap it
    max_bytes: int = 5_000_000,
    allow_private_hosts: bool = False,
) -> bytes:
    """Download a calendar feed: the body, checked to start like iCalendar.

    ``timeout`` bounds the whole fetch (name lookups, redirects, the slowest trickle of a body), not
    only each socket operation. Redirects are followed by hand, at most :data:`MAX_REDIRECTS`, so each
    target is checked like the first address.

    Unless ``allow_private_hosts`` (tests, or a deployment whose calendars are on its own network),
    the host's addresses must all be public: loopback, private, link-local, multicast, reserved and
    unspecified addresses are refused before any request. The connection then goes to the address
    that was checked (the name is kept for the Host header and for TLS), so a DNS answer that changes
    between check and connection cannot point us inward.
    """
    current = normalise_feed_url(url)
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(current, timeout, max_bytes, allow_private_hosts)
    except TimeoutError:
        raise _no_answer_in_time(timeout) from None


async def _fetch(url: str, time_limit: float, max_bytes: int, allow_private_hosts: bool) -> bytes:
    # trust_env=False: an HTTP proxy from the environment would resolve and connect on our behalf,
    # past the address check; it would also read credentials from ~/.netrc.
    async with httpx2.AsyncClient(
        timeout=httpx2.Timeout(time_limit),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "conference-calendar-import", "Accept": "text/calendar, */*;q=0.5"},
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            request = await _build_request(client, url, allow_private_hosts)
            try:
                response = await client.send(request, stream=True)
            except httpx2.TimeoutException:
                raise _no_answer_in_time(time_limit) from None
            except httpx2.HTTPError:
                raise ExternalCalendarError(
                    "Could not connect to the calendar server. Check the address; if it is right, the server may "
                    "be down, so try again later.",
                    kind="unreachable",
                ) from None
            try:
                if response.has_redirect_location:
                    url = _redirect_target(url, response.headers["Location"])
                    continue
                if not response.is_success:
                    raise _status_error(response.status_code, response.reason_phrase)
                body = await _read_capped(response, max_bytes, time_limit)
            finally:
                await response.aclose()
            if not _looks_like_calendar(body):
                raise ExternalCalendarError(_NOT_CALENDAR, kind="not_calendar")
            return body
    raise ExternalCalendarError(
        f"The calendar address redirected more than {MAX_REDIRECTS} times without reaching a calendar. Copy the "
        "address again from your calendar's sharing settings.",
        kind="http",
    )


async def _build_request(client: httpx2.AsyncClient, url: str, allow_private_hosts: bool) -> httpx2.Request:
    target = httpx2.URL(url)
    if allow_private_hosts:
        return client.build_request("GET", target)
    host = target.raw_host.decode("ascii")
    address = await _public_address(host, target.port or (443 if target.scheme == "https" else 80))
    extensions: dict[str, Any] = {"sni_hostname": host} if target.scheme == "https" else {}
    return client.build_request(
        "GET",
        target.copy_with(host=str(address)),
        headers={"Host": target.netloc.decode("ascii")},
        extensions=extensions,
    )


async def _public_address(host: str, port: int) -> _IPAddress:
    """The address to connect to, once every address the name has is known to be public."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ExternalCalendarError(
            "The calendar server's name could not be found. Check the address for typing mistakes.",
            kind="unreachable",
        ) from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos if isinstance(info[4][0], str)]
    # Every address, not only the first: the name is one an outsider controls, and it could mix a
    # public address with an inward one.
    if not addresses or not all(_is_public_address(address) for address in addresses):
        raise ExternalCalendarError(
            "That address points inside a private or local network, not to a public calendar server. Use the "
            "calendar's public (secret) iCal address from its sharing settings.",
            kind="url",
        )
    return addresses[0]


def _is_public_address(address: _IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # IPv4 addresses wrapped in IPv6 reach the IPv4 address, so that is the one to judge.
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address.sixtofour is not None:
            address = address.sixtofour
        elif address in _NAT64_PREFIX:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _redirect_target(current: str, location: str) -> str:
    try:
        joined = str(httpx2.URL(current).join(location))
        return normalise_feed_url(joined)
    except (ExternalCalendarError, httpx2.InvalidURL, ValueError):
        raise ExternalCalendarError(
            "The calendar address redirected to an address that can't be used. Copy the calendar's address "
            "again from its sharing settings.",
            kind="url",
        ) from None


async def _read_capped(response: httpx2.Response, max_bytes: int, time_limit: float) -> bytes:
    too_large = ExternalCalendarError(
        f"The calendar file is larger than {max_bytes / 1_000_000:g} MB, more than we accept. Connect a calendar "
        "with fewer events (for example one that holds only your appointments).",
        kind="too_large",
    )
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        # Decoded bytes are counted, so a small compressed body cannot unpack past the cap.
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
    except httpx2.TimeoutException:
        raise _no_answer_in_time(time_limit) from None
    except httpx2.HTTPError:
        raise ExternalCalendarError(
            "The calendar server stopped sending the calendar part way. Try again later.", kind="unreachable"
        ) from None
    return b"".join(chunks)


def _no_answer_in_time(timeout: float) -> ExternalCalendarError:
    return ExternalCalendarError(
        f"The calendar server did not send the calendar within {timeout:g} seconds. It may be busy; try again later.",
        kind="unreachable",
    )


def _status_error(status: int, reason: str) -> ExternalCalendarError:
    answered = f"HTTP {status} {reason}".strip()
    if status in (401, 403):
        advice = (
            "The server refused access: the calendar may no longer be shared, or its secret address was reset. "
            "Copy the address again from your calendar's sharing settings."
        )
    elif status in (404, 410):
        advice = (
            "There is no calendar at this address: it may have been deleted, or its secret address was reset. "
            "Copy the address again from your calendar's sharing settings."
        )
    elif status == 429:
        advice = "The server asks us to slow down. We will try again later."
    elif status >= 500:
        advice = "The calendar server has a problem of its own, usually a passing one. Try again later."
    else:
        advice = "Check the address, and copy it again from your calendar's sharing settings if needed."
    return ExternalCalendarError(
        f"The calendar server answered {answered} instead of the calendar. {advice}", kind="http"
    )
