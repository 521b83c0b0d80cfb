"""Benchmark: find_slots against a minute-by-minute scan of the same input.

Run from the project root:  .venv/bin/python -m bench.slots  [--seed N] [--runs N] [--baseline-runs N]

The input is built deterministically from the seed: 8 participants (5 required, 3 optional) in 6
time zones, a 90-day window that spans the US and EU spring clock changes, 2,000 busy intervals
each, a 30-minute meeting on a 15-minute grid with a 10-minute buffer after it. Part of everyone's
busy time comes from shared team meetings, as it would in a real clinic, so that the required
people have common free time at all. The busy lists are shuffled and overlap themselves.

Busy times are given in UTC, as they come out of the database. A second find_slots row gives the
same busy times in each person's own zone, which costs more: every one of them then needs a
zoneinfo lookup to become an instant.

Exits with status 1 if the methods disagree on the top slots.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from conference.scheduling.slots import Interval, Participant, Slot, SlotRequest, WeeklyHours, find_slots

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WINDOW_START = datetime(2026, 2, 16, 0, 7, tzinfo=UTC)  # off the grid on purpose: the first start rounds up
WINDOW_DAYS = 90
BUSY_PER_PERSON = 2_000
TEAM_MEETINGS = 600  # shared by several people
TEAM_MEETINGS_EACH = 500
PERSONAL_MEETINGS = 750
DURATIONS = (15, 30, 30, 45, 60)  # minutes

# (key, zone, required, [(weekdays, start, end)]), hours in the person's own zone.
PEOPLE: tuple[tuple[str, str, bool, list[tuple[range, time, time]]], ...] = (
    ("psychiatrist-ny", "America/New_York", True, [(range(5), time(8), time(18))]),
    (
        "therapist-chi",
        "America/Chicago",
        True,
        [(range(5), time(7, 30), time(12)), (range(5), time(13), time(17, 30))],
    ),
    ("case-manager-ldn", "Europe/London", True, [(range(5), time(9), time(19))]),
    ("nurse-sp", "America/Sao_Paulo", True, [(range(6), time(9), time(18))]),
    ("social-worker-ny", "America/New_York", True, [(range(1, 5), time(8, 30), time(16, 30))]),
    ("pharmacist-kol", "Asia/Kolkata", False, [(range(5), time(14), time(23))]),
    ("peer-support-ber", "Europe/Berlin", False, [(range(5), time(10), time(20))]),
    ("supervisor-ny", "America/New_York", False, [(range(5), time(9), time(17))]),
)


def build_request(seed: int, *, local_busy: bool = False) -> SlotRequest:
    """The benchmark input. With ``local_busy`` the same busy times are given in each person's zone."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, nothing secret
    window_minutes = WINDOW_DAYS * 24 * 60

    def random_interval() -> Interval:
        start = WINDOW_START + rng.randrange(window_minutes) * MINUTE
        return Interval(start, start + rng.choice(DURATIONS) * MINUTE)

    team_meetings = [random_interval() for _ in range(TEAM_MEETINGS)]
    participants = []
    for key, zone, required, blocks in PEOPLE:
        hours = tuple(WeeklyHours(day, start, end) for days, start, end in blocks for day in days)
        own = rng.sample(team_meetings, k=TEAM_MEETINGS_EACH) + [random_interval() for _ in range(PERSONAL_MEETINGS)]
        # The rest are the same meetings again as imported from other calendars, some a few minutes
        # off, so the busy list overlaps itself heavily, as imported calendars do.
        copies = []
        for _ in range(BUSY_PER_PERSON - len(own)):
            original = rng.choice(own)
            shift = rng.choice((-15, -5, 0, 0, 5, 10)) * MINUTE
            copies.append(Interval(original.start + shift, original.end + shift))
        busy = own + copies
        rng.shuffle(busy)
        if local_busy:
            local = ZoneInfo(zone)
            busy = [Interval(i.start.astimezone(local), i.end.astimezone(local)) for i in busy]
        participants.append(Participant(key, zone, hours, tuple(busy), required))
    return SlotRequest(
        participants=tuple(participants),
        duration=timedelta(minutes=30),
        window_start=WINDOW_START,
        window_end=WINDOW_START + timedelta(days=WINDOW_DAYS),
        granularity=timedelta(minutes=15),
        buffer_after=timedelta(minutes=10),
    )


def minute_scan(request: SlotRequest) -> list[Slot]:
    """The obvious method: for every minute of the window, is each person in hours and not busy?

    Only correct when every input falls on whole minutes, which the benchmark input does.
    """
    before = request.buffer_before // MINUTE
    after = request.buffer_after // MINUTE
    length = request.duration // MINUTE
    minutes = (request.window_end - request.window_start) // MINUTE
    origin = request.window_start - before * MINUTE  # minute 0 of the arrays below
    size = before + minutes + after

    usable: dict[str, list[bool]] = {}
    for person in request.participants:
        zone = ZoneInfo(person.time_zone)
        in_hours = []
        for m in range(size):
            local = (origin + m * MINUTE).astimezone(zone)
            clock_time = local.time()
            in_hours.append(
                any(
                    block.weekday == local.weekday() and block.start <= clock_time < block.end
                    for block in person.working_hours
                )
            )
        busy = [False] * size
        for interval in person.busy:
            first = max(0, (interval.start - origin) // MINUTE)
            last = min(size, (interval.end - origin) // MINUTE)
            for m in range(first, last):
                busy[m] = True
        usable[person.key] = [False] * size
        for m in range(before, before + minutes - length + 1):
            usable[person.key][m] = all(in_hours[m : m + length]) and not any(busy[m - before : m + length + after])

    granularity = request.granularity
    offset = request.window_start - EPOCH
    first_start = EPOCH + -(-offset // granularity) * granularity
    candidates = []
    start = first_start
    while start + request.duration <= request.window_end:
        m = before + (start - request.window_start) // MINUTE
        if all(usable[p.key][m] for p in request.participants if p.required):
            free = tuple(p.key for p in request.participants if not p.required and usable[p.key][m])
            busy_keys = tuple(p.key for p in request.participants if not p.required and p.key not in free)
            candidates.append(Slot(start, start + request.duration, free, busy_keys))
        start += granularity
    candidates.sort(key=lambda slot: (-len(slot.optional_free), slot.start))
    return candidates[: request.limit]


def time_runs(method: Callable[[SlotRequest], list[Slot]], request: SlotRequest, runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        started = clock.perf_counter()
        method(request)
        timings.append((clock.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=51, help="timed runs of find_slots")
    parser.add_argument("--baseline-runs", type=int, default=5, help="timed runs of the minute scan (about 2 s each)")
    args = parser.parse_args()

    request = build_request(args.seed)
    local_request = build_request(args.seed, local_busy=True)
    fast = find_slots(request)
    slow = minute_scan(request)
    if fast != slow:
        print("find_slots and the minute scan DISAGREE on the top slots:", file=sys.stderr)
        for mine, theirs in zip(fast, slow, strict=False):
            print(f"  {mine}\n  {theirs}\n", file=sys.stderr)
        print(f"  ({len(fast)} against {len(slow)} slots)", file=sys.stderr)
        return 1
    if find_slots(local_request) != fast:
        print("find_slots answers differently when busy times are given in local zones", file=sys.stderr)
        return 1
    counts = sorted({len(slot.optional_free) for slot in fast}, reverse=True)
    print(
        f"find_slots and the minute scan agree on all {len(fast)} top slots "
        f"(optional people free: {', '.join(map(str, counts))}; first {fast[0].start:%Y-%m-%d %H:%M} UTC)."
    )

    rows = [
        ("find_slots", time_runs(find_slots, request, args.runs)),
        ("find_slots, busy times in local zones", time_runs(find_slots, local_request, args.runs)),
        ("minute scan", time_runs(minute_scan, request, args.baseline_runs)),
    ]
    print()
    print("| method | median ms | p95 ms | runs |")
    print("|---|---:|---:|---:|")
    for name, timings in rows:
        print(f"| {name} | {statistics.median(timings):.1f} | {percentile(timings, 0.95):.1f} | {len(timings)} |")
    speed_up = statistics.median(rows[-1][1]) / statistics.median(rows[0][1])
    print(f"\nspeed-up: {speed_up:,.0f}\N{MULTIPLICATION SIGN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
