"""Benchmark: rendering a 1,000-event calendar feed, and two ways of answering a conditional GET.

Run from the project root:  .venv/bin/python -m bench.feeds  [--seed N] [--runs N]

The feed is built deterministically from the seed: 950 single meetings and 50 weekly series in
four time zones (each with two excluded occurrences, one moved and one cancelled), spread over
six months from March 2026.

Paths timed:

* render: ``render_feed`` alone.
* 304 from the body: render, hash the bytes (SHA-256) into a strong ETag and compare it with
  If-None-Match. This is the exact validator: it changes if and only if the bytes do.
* 304 from a version key: hash (uid, sequence, last_modified) of every event and override, with the
  feed's own parameters, without rendering. Only exact while every change to a meeting moves its
  SEQUENCE or LAST-MODIFIED, and the key also names everything else the bytes depend on (the
  renderer's version, the tz database that the VTIMEZONEs come from).

Exits with status 1 if rendering is not deterministic or a 304 path does not match.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time as clock
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

from conference.scheduling.feeds import render_cached
from conference.scheduling.ical import CalendarEvent, Occurrence, render_feed, vtimezone

FEED_START = datetime(2026, 3, 2, tzinfo=UTC)
SINGLE_EVENTS = 950
SERIES = 50
ZONES = ("America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney")
CALENDAR = {"calendar_name": "Case conferences"}
RENDERER_VERSION = "ical-1"
# Everything besides the events that the bytes depend on, computed once per process: the renderer,
# the library that serializes, and the tz database the VTIMEZONEs are derived from.
ENVIRONMENT = hashlib.sha256(
    "\x1f".join(
        [RENDERER_VERSION, version("icalendar")]
        + [vtimezone(zone, reference_year=FEED_START.year).to_ical().decode() for zone in ZONES]
    ).encode()
).digest()


def build_events(seed: int) -> list[CalendarEvent]:
    rng = random.Random(seed)  # noqa: S311 - reproducible benchmark data, not a secret
    events = []
    for number in range(SINGLE_EVENTS):
        start = FEED_START + timedelta(days=rng.randrange(180), hours=rng.randrange(7, 19), minutes=rng.choice((0, 30)))
        events.append(
            CalendarEvent(
                uid=f"meeting-{number:05d}@conference.example.org",
                sequence=rng.randrange(4),
                last_modified=FEED_START - timedelta(minutes=rng.randrange(100_000)),
                summary="Case conference",
                url=f"https://conference.example.org/meetings/{number:05d}",
                start=start,
                end=start + timedelta(minutes=rng.choice((30, 45, 60, 90))),
                time_zone=rng.choice(ZONES),
                cancelled=rng.random() < 0.05,
                location="Video room (sign in to join)",
                description="Multidisciplinary case review. Sign in to see the agenda and the people invited.",
            )
        )
    for number in range(SERIES):
        zone = ZoneInfo(ZONES[number % len(ZONES)])
        day = FEED_START.astimezone(zone).date() + timedelta(days=number % 7)
        local_start = datetime(day.year, day.month, day.day, 8 + number % 9, 0, tzinfo=zone)
        start = local_start.astimezone(UTC)
        weeks = 26

        def original(week: int, local_start: datetime = local_start) -> datetime:
            return (local_start + timedelta(weeks=week)).astimezone(UTC)  # wall-clock weekly

        moved, cancelled, *excluded = rng.sample(range(1, weeks), 4)
        stamp = FEED_START - timedelta(days=1)
        events.append(
            CalendarEvent(
                uid=f"series-{number:03d}@conference.example.org",
                sequence=3,
                last_modified=FEED_START - timedelta(days=3),
                summary="Weekly case review",
                url=f"https://conference.example.org/series/{number:03d}",
                start=start,
                end=start + timedelta(hours=1),
                time_zone=zone.key,
                rrule=f"FREQ=WEEKLY;COUNT={weeks}",
                exdates=tuple(original(week) for week in excluded),
                overrides=(
                    Occurrence(
                        original(moved),
                        original(moved) + timedelta(hours=2),
                        original(moved) + timedelta(hours=3),
                        False,
                        4,
                        stamp,
                    ),
                    Occurrence(
                        original(cancelled),
                        original(cancelled),
                        original(cancelled) + timedelta(hours=1),
                        True,
                        5,
                        stamp,
                    ),
                ),
                location="Video room (sign in to join)",
            )
        )
    return events


def etag_from_body(events: Sequence[CalendarEvent]) -> str:
    return '"' + hashlib.sha256(render_feed(events, **CALENDAR)).hexdigest() + '"'


def etag_from_versions(events: Sequence[CalendarEvent]) -> str:
    digest = hashlib.sha256()
    digest.update(ENVIRONMENT)
    digest.update(f"{CALENDAR['calendar_name']}\x1fPT1H\x1e".encode())
    for event in sorted(events, key=lambda item: item.uid):
        digest.update(f"{event.uid}\x1f{event.sequence}\x1f{event.last_modified.isoformat()}".encode())
        for override in sorted(event.overrides, key=lambda item: item.recurrence_id):
            digest.update(
                f"\x1f{override.recurrence_id.isoformat()}\x1f{override.sequence}"
                f"\x1f{override.last_modified.isoformat()}".encode()
            )
        digest.update(b"\x1e")
    return '"v-' + digest.hexdigest() + '"'


def not_modified(
    etag: Callable[[Sequence[CalendarEvent]], str], events: Sequence[CalendarEvent], if_none_match: str
) -> bool:
    return etag(events) == if_none_match


def served_etag(events: Sequence[CalendarEvent]) -> str:
    """The feed endpoint's path: the rendered body is cached under the events themselves."""
    return '"' + hashlib.sha256(render_cached(tuple(events))).hexdigest() + '"'


def time_runs(task: Callable[[], object], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = clock.perf_counter()
        task()
        timings.append((clock.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=21, help="timed runs of each path")
    args = parser.parse_args()

    events = build_events(args.seed)
    body = render_feed(events, **CALENDAR)  # also the warm-up: zone rules are cached after it
    if render_feed(list(reversed(events)), **CALENDAR) != body:
        print("render_feed is NOT deterministic", file=sys.stderr)
        return 1
    body_etag = etag_from_body(events)
    version_etag = etag_from_versions(events)
    if not (not_modified(etag_from_body, events, body_etag) and not_modified(etag_from_versions, events, version_etag)):
        print("a 304 path does not match its own ETag", file=sys.stderr)
        return 1
    components = body.count(b"BEGIN:VEVENT")
    print(
        f"{len(events)} events ({SERIES} series) -> {components} VEVENTs, "
        f"{body.count(b'BEGIN:VTIMEZONE')} VTIMEZONEs, {len(body):,} bytes ({len(body) / 1_048_576:.2f} MiB)."
    )

    rows = [
        ("render_feed", time_runs(lambda: render_feed(events, **CALENDAR), args.runs)),
        (
            "304 via sha256 of rendered body",
            time_runs(lambda: not_modified(etag_from_body, events, body_etag), args.runs),
        ),
        (
            "304 via version key (no render)",
            time_runs(lambda: not_modified(etag_from_versions, events, version_etag), args.runs),
        ),
        (
            "304 as the service does it (render cached by events, sha256 of the body)",
            time_runs(lambda: served_etag(events) == body_etag, args.runs),
        ),
    ]
    print()
    print("| path | median ms | p95 ms | runs |")
    print("|---|---:|---:|---:|")
    for name, timings in rows:
        print(f"| {name} | {statistics.median(timings):.2f} | {percentile(timings, 0.95):.2f} | {len(timings)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
