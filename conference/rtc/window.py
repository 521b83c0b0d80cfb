"""When a meeting occurrence's video room is open. Pure.

A room belongs to one occurrence and opens a little before it starts and closes a while after it
ends, so people can settle in early and a meeting that overruns is not cut off. Every moment is a
timezone-aware instant and the arithmetic is done in UTC: subtracting minutes from a local time
does wall-clock arithmetic in Python, which lands in the wrong hour next to a daylight-saving change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def _utc(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not a naive datetime")
    return moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class RoomWindow:
    """The room is open from ``opens_at`` (inclusive) until ``closes_at`` (exclusive), both in UTC."""

    opens_at: dt.datetime
    closes_at: dt.datetime

    def __post_init__(self) -> None:
        opens_at, closes_at = _utc(self.opens_at, "opens_at"), _utc(self.closes_at, "closes_at")
        if closes_at <= opens_at:
            raise ValueError("a room must close after it opens")
        # Normalised so that equal windows compare equal whatever offset they were given in.
        object.__setattr__(self, "opens_at", opens_at)
        object.__setattr__(self, "closes_at", closes_at)

    def contains(self, now: dt.datetime) -> bool:
        moment = _utc(now, "now")
        return self.opens_at <= moment < self.closes_at


def room_window(
    starts_at: dt.datetime, ends_at: dt.datetime, *, opens_before: dt.timedelta, closes_after: dt.timedelta
) -> RoomWindow:
    """The window of an occurrence that actually runs from ``starts_at`` to ``ends_at``."""
    start, end = _utc(starts_at, "starts_at"), _utc(ends_at, "ends_at")
    if end <= start:
        raise ValueError("an occurrence must end after it starts")
    if opens_before < dt.timedelta(0) or closes_after < dt.timedelta(0):
        raise ValueError("opens_before and closes_after cannot be negative")
    return RoomWindow(start - opens_before, end + closes_after)
