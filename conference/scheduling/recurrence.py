"""Recurring meetings: validating the rule and expanding occurrences. Pure.

A series keeps its wall-clock time in the organizer's time zone: a 09:00 weekly case review in
New York is at 09:00 local on both sides of a daylight-saving change, so its UTC time moves.
Only bounded weekly rules are accepted (COUNT or UNTIL), so every series has a known end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

MAX_OCCURRENCES = 104  # two years of weekly meetings
MAX_SERIES_SPAN = dt.timedelta(days=730)


class RecurrenceError(ValueError):
    """The rule cannot be used; the message says why, for a person."""


@dataclass(frozen=True)
class OccurrenceChange:
    """A change to one occurrence, identified by its original start."""

    recurrence_id: dt.datetime
    cancelled: bool
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Instance:
    recurrence_id: dt.datetime  # the original start, UTC; for a single meeting its start
    start: dt.datetime
    end: dt.datetime
    cancelled: bool
    moved: bool


def normalise_rule(rule: str) -> str:
    """Upper-case, without a leading RRULE:, and checked: weekly, bounded by COUNT or UNTIL."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for piece in text.upper().split(";"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if not value:
            raise RecurrenceError(f"The repeat rule part {piece!r} is not NAME=VALUE.")
        parts[name] = value
    if parts.get("FREQ") != "WEEKLY":
        raise RecurrenceError("Only weekly repeats are supported (FREQ=WEEKLY).")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise RecurrenceError("A repeating meeting needs an end: give COUNT (how many times) or UNTIL (a date).")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("Give COUNT or UNTIL, not both.")
    allowed = {"FREQ", "COUNT", "UNTIL", "INTERVAL", "BYDAY", "WKST"}
    unknown = sorted(set(parts) - allowed)
    if unknown:
        raise RecurrenceError(f"The repeat rule may not use {', '.join(unknown)}.")
    if "COUNT" in parts and not (parts["COUNT"].isdigit() and 1 <= int(parts["COUNT"]) <= MAX_OCCURRENCES):
        raise RecurrenceError(f"COUNT must be between 1 and {MAX_OCCURRENCES}.")
    if "INTERVAL" in parts and not (parts["INTERVAL"].isdigit() and 1 <= int(parts["INTERVAL"]) <= 4):
        raise RecurrenceError("INTERVAL must be between 1 and 4 weeks.")
    if "UNTIL" in parts:
        parts["UNTIL"] = _until(parts["UNTIL"]).strftime("%Y%m%dT%H%M%SZ")
    order = ["FREQ", "INTERVAL", "BYDAY", "WKST", "COUNT", "UNTIL"]
    return ";".join(f"{name}={parts[name]}" for name in order if name in parts)


def _until(value: str) -> dt.datetime:
    for pattern in ("%Y%m%dT%H%M%SZ", "%Y%m%d"):
        try:
            parsed = dt.datetime.strptime(value, pattern)
        except ValueError:
            continue
        if pattern == "%Y%m%d":
            parsed = parsed.replace(hour=23, minute=59, second=59)
        return parsed.replace(tzinfo=dt.UTC)
    raise RecurrenceError("UNTIL must be a date such as 20270131 or a UTC time such as 20270131T170000Z.")


def _rule(start: dt.datetime, zone: str, rule: str) -> rrule:
    local_start = start.astimezone(ZoneInfo(zone))
    parsed = rrulestr(rule, dtstart=local_start)
    assert isinstance(parsed, rrule)
    return parsed


def starts(start: dt.datetime, zone: str, rule: str | None) -> list[dt.datetime]:
    """Every original start of the series (or the one start of a single meeting), in UTC."""
    if rule is None:
        return [start]
    found: list[dt.datetime] = []
    for local in _rule(start, zone, rule):
        if len(found) >= MAX_OCCURRENCES:
            break
        found.append(local.astimezone(dt.UTC))
    if not found:
        raise RecurrenceError("The repeat rule gives no occurrence: its end is before the first meeting.")
    if found[-1] - found[0] > MAX_SERIES_SPAN:
        raise RecurrenceError("A repeating meeting may span at most two years.")
    return found


def instances(
    start: dt.datetime,
    end: dt.datetime,
    zone: str,
    rule: str | None,
    exceptions: Iterable[OccurrenceChange] = (),
    *,
    window_start: dt.datetime | None = None,
    window_end: dt.datetime | None = None,
) -> list[Instance]:
    """The occurrences that touch the window, with moves and cancellations applied."""
    duration = end - start
    changed = {exception.recurrence_id: exception for exception in exceptions}
    result = []
    for original in starts(start, zone, rule):
        exception = changed.get(original)
        if exception is None:
            instance = Instance(original, original, original + duration, cancelled=False, moved=False)
        else:
            instance = Instance(
                original, exception.start, exception.end, exception.cancelled, moved=not exception.cancelled
            )
        if window_start is not None and instance.end <= window_start:
            continue
        if window_end is not None and instance.start >= window_end:
            continue
        result.append(instance)
    return sorted(result, key=lambda instance: instance.start)


def last_end(
    start: dt.datetime, end: dt.datetime, zone: str, rule: str | None, exceptions: Sequence[OccurrenceChange] = ()
) -> dt.datetime:
    return max(instance.end for instance in instances(start, end, zone, rule, exceptions))


def split_rule(rule: str, start: dt.datetime, zone: str, at: dt.datetime) -> tuple[str, str]:
    """The rule up to (not including) the occurrence at ``at``, and the rule from it on."""
    originals = starts(start, zone, rule)
    if at not in originals:
        raise RecurrenceError("That is not an occurrence of this series.")
    index = originals.index(at)
    if index == 0:
        raise RecurrenceError("To change every occurrence, change the series itself.")
    parts = dict(piece.split("=", 1) for piece in rule.split(";"))
    before = {key: value for key, value in parts.items() if key not in ("COUNT", "UNTIL")}
    before["UNTIL"] = (at - dt.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    after = dict(parts)
    if "COUNT" in parts:
        after["COUNT"] = str(int(parts["COUNT"]) - index)
    return normalise_rule(";".join(f"{k}={v}" for k, v in before.items())), normalise_rule(
        ";".join(f"{k}={v}" for k, v in after.items())
    )
