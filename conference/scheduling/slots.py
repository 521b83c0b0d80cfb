"""Finding times when a case conference can meet. Pure: no I/O, no framework, standard library only.

A slot qualifies when every required participant is, for the whole slot, inside their working hours
and free of busy time. Optional participants never rule a slot out; they only rank it.

The rules:
- Working hours are wall-clock times in each participant's own IANA zone, so 09:00-17:00 in
  New York is 14:00-22:00 UTC in winter and 13:00-21:00 UTC in summer. On a switch day a block
  covers exactly the instants whose local clock reads inside it: a block that includes the skipped
  hour is an hour shorter, one that includes the repeated hour is an hour longer, and one lying
  wholly inside the repeated hour happens twice.
- Buffers must be free of busy time but may fall outside working hours: a 09:00 slot for someone
  who starts at 09:00 is fine with a buffer before it, but not if a meeting ends at 08:55.
  Buffers are also allowed to reach outside the request window.
- Slot starts are whole multiples of the granularity counted from the Unix epoch in UTC, which is
  the same as counting from the window start rounded up to the granularity. With the default
  15 minutes that means :00, :15, :30 and :45 UTC, which are also quarter hours in every zone in
  use today (India's +05:30 and Nepal's +05:45 included).
- Ranking: more optional participants free first, then the earlier start. Ties cannot happen,
  since no two slots share a start.
- A participant without working hours is never available; if they are required there are no
  slots. Zero-length busy times block nothing.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_DURATION = timedelta(hours=12)
MAX_WINDOW = timedelta(days=366)

# Instants are handled as offsets from the Unix epoch rather than as datetimes. Subtracting a UTC
# epoch is exact and several times cheaper than datetime.timestamp(), and the offsets compare as
# instants: two aware datetimes that share a zone compare by wall clock, which misorders the
# repeated hour after clocks fall back.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
# More than any UTC offset (-12 to +14 hours) plus a day: a local day this far from every clock
# change lies wholly on one offset.
_CHANGE_MARGIN = timedelta(days=2)

_Span = tuple[timedelta, timedelta]  # half-open [start, end), as offsets from the epoch


@dataclass(frozen=True)
class Interval:
    """Half-open [start, end); tz-aware datetimes in any zone, compared as instants."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class WeeklyHours:
    """One working block in the person's own time zone; weekday 0 is Monday. Never crosses midnight."""

    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class Participant:
    key: str
    time_zone: str
    working_hours: tuple[WeeklyHours, ...]
    busy: tuple[Interval, ...]  # unsorted, may overlap
    required: bool = True


@dataclass(frozen=True)
class SlotRequest:
    participants: tuple[Participant, ...]
    duration: timedelta
    window_start: datetime  # slots start at or after it
    window_end: datetime  # slots end at or before it
    granularity: timedelta = timedelta(minutes=15)
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    limit: int = 20


@dataclass(frozen=True)
class Slot:
    start: datetime  # UTC
    end: datetime  # UTC
    optional_free: tuple[str, ...]  # in the order the participants were given
    optional_busy: tuple[str, ...]


class SlotRequestError(ValueError):
    """The request cannot be answered as asked; the message says what to change, for a person."""


def find_slots(request: SlotRequest) -> list[Slot]:
    """The best ``request.limit`` qualifying slots, best first (see the module docstring for the rules)."""
    zones = _validate(request)
    window = (request.window_start - _EPOCH, request.window_end - _EPOCH)

    required: list[_Span] | None = None
    optional: list[tuple[str, list[_Span]]] = []
    # Everyone is worked out even once the answer is known to be empty, so that a bad busy time is
    # reported the same way whatever the rest of the data looks like.
    for person in request.participants:
        starts = _possible_starts(person, zones[person.key], request, window)
        if person.required:
            required = starts if required is None else _intersect(required, starts)
        else:
            optional.append((person.key, starts))
    assert required is not None  # validation guarantees a required participant
    if not required:
        return []

    chosen = _best_starts(required, [starts for _, starts in optional], request.granularity, request.limit)
    slots = []
    for start in chosen:
        free = tuple(key for key, starts in optional if _contains(starts, start))
        busy = tuple(key for key, starts in optional if key not in free)
        slots.append(Slot(_EPOCH + start, _EPOCH + start + request.duration, free, busy))
    return slots


def _validate(request: SlotRequest) -> dict[str, ZoneInfo]:
    if request.duration <= timedelta(0):
        raise SlotRequestError("The meeting length must be more than zero minutes.")
    if request.duration > MAX_DURATION:
        raise SlotRequestError(
            "The meeting length can be at most 12 hours; split a longer meeting into several sessions."
        )
    if request.granularity <= timedelta(0):
        raise SlotRequestError("The step between possible start times must be more than zero minutes.")
    if request.buffer_before < timedelta(0):
        raise SlotRequestError("The buffer before the meeting cannot be negative; use zero for no buffer.")
    if request.buffer_after < timedelta(0):
        raise SlotRequestError("The buffer after the meeting cannot be negative; use zero for no buffer.")
    if request.limit < 1:
        raise SlotRequestError("Ask for at least one slot: the limit must be 1 or more.")
    for label, moment in (("start", request.window_start), ("end", request.window_end)):
        if _is_naive(moment):
            raise SlotRequestError(
                f"The window {label} ({moment.isoformat()}) has no time zone; "
                "give it with one, for example 2026-03-09T09:00:00-05:00."
            )
    # The working-hours expansion looks a couple of days past each edge of the window.
    if request.window_start.year < 2 or request.window_end.year > 9998:
        raise SlotRequestError("The window must lie between the years 2 and 9998.")
    if request.window_end <= request.window_start:
        raise SlotRequestError("The window must end after it starts.")
    if request.window_end - request.window_start > MAX_WINDOW:
        raise SlotRequestError(
            "The window is longer than 366 days; scheduling horizons past a year are not supported, "
            "so shorten the window."
        )
    if not any(person.required for person in request.participants):
        raise SlotRequestError(
            "Mark at least one participant as required; optional participants alone cannot settle a time."
        )

    zones: dict[str, ZoneInfo] = {}
    for person in request.participants:
        if person.key in zones:
            raise SlotRequestError(f"Participant {person.key} is listed more than once; list each person once.")
        zones[person.key] = _zone(person)
        for block in person.working_hours:
            _validate_block(person.key, block)
    return zones


def _zone(person: Participant) -> ZoneInfo:
    try:
        return ZoneInfo(person.time_zone)
    # Malformed names (empty, absolute paths, "..") raise ValueError rather than ZoneInfoNotFoundError.
    except (ZoneInfoNotFoundError, ValueError):
        raise SlotRequestError(
            f'Participant {person.key} has an unknown time zone "{person.time_zone}"; '
            'use an IANA time zone name such as "America/New_York" or "Europe/London".'
        ) from None


def _validate_block(key: str, block: WeeklyHours) -> None:
    if not 0 <= block.weekday <= 6:
        raise SlotRequestError(
            f"Participant {key} has working hours on weekday {block.weekday}; "
            "weekdays run from 0 (Monday) to 6 (Sunday)."
        )
    if block.start.tzinfo is not None or block.end.tzinfo is not None:
        raise SlotRequestError(
            f"Participant {key} has working hours with a time zone attached; give them as plain local "
            "clock times, since the participant's own time zone applies."
        )
    if block.end <= block.start:
        raise SlotRequestError(
            f"Participant {key} has working hours from {block.start.isoformat('minutes')} to "
            f"{block.end.isoformat('minutes')}; the end must be later than the start on the same day."
        )


def _is_naive(moment: datetime) -> bool:
    return moment.tzinfo is None or moment.utcoffset() is None


def _possible_starts(person: Participant, zone: ZoneInfo, request: SlotRequest, window: _Span) -> list[_Span]:
    """The start times at which this person could take the whole slot, as sorted disjoint spans."""
    cut_starts, cut_ends = _busy_union(person, request.buffer_before, request.buffer_after)
    working = _clip(_merge(_working_spans(person, zone, window)), window)
    duration = request.duration
    # A start set is closed at both ends ([a, b - duration]); adding a microsecond keeps every span
    # half-open, which is what the intersection and the sweep expect.
    return [
        (start, end - duration + _MICROSECOND)
        for start, end in _subtract(working, cut_starts, cut_ends)
        if end - start >= duration
    ]


def _working_spans(person: Participant, zone: ZoneInfo, window: _Span) -> list[_Span]:
    by_weekday: list[list[tuple[timedelta, timedelta]]] = [[] for _ in range(7)]
    for block in person.working_hours:
        by_weekday[block.weekday].append((_since_midnight(block.start), _since_midnight(block.end)))

    # A day either side, because a local date and the UTC date of the window edge can differ.
    first = (_EPOCH + window[0]).astimezone(zone).date() - _ONE_DAY
    last = (_EPOCH + window[1]).astimezone(zone).date() + _ONE_DAY
    # Local midnights as offsets from a naive epoch; they differ from instants by the UTC offset only.
    midnight = datetime.combine(first, time()) - _NAIVE_EPOCH
    final = datetime.combine(last, time()) - _NAIVE_EPOCH
    offset, changes = _clock_changes(zone, midnight - _CHANGE_MARGIN, final + _ONE_DAY + _CHANGE_MARGIN)

    spans: list[_Span] = []
    weekday = first.weekday()
    index = 0
    while midnight <= final:
        while index < len(changes) and changes[index][0] <= midnight - _CHANGE_MARGIN:
            offset = changes[index][1]
            index += 1
        blocks = by_weekday[weekday]
        if blocks:
            if index == len(changes) or changes[index][0] > midnight + _ONE_DAY + _CHANGE_MARGIN:
                base = midnight - offset
                spans.extend((base + start, base + end) for start, end in blocks)
            else:
                for start, end in blocks:
                    spans.extend(_wall_clock_span(zone, midnight + start, midnight + end))
        midnight += _ONE_DAY
        weekday = (weekday + 1) % 7
    return spans


def _clock_changes(
    zone: ZoneInfo, earliest: timedelta, latest: timedelta
) -> tuple[timedelta, list[tuple[timedelta, timedelta]]]:
    """The offset at ``earliest``, and each later instant up to ``latest`` where it changes, with the new offset.

    zoneinfo has no public list of transitions. Sampling once a day finds every change as long as a
    zone changes its clocks at most once a day, which the tz database bears out, and lets every
    other day be expanded with plain arithmetic.
    """
    initial = current = _offset_at(zone, earliest)
    changes: list[tuple[timedelta, timedelta]] = []
    instant = earliest
    while instant < latest:
        following = instant + _ONE_DAY
        after = _offset_at(zone, following)
        if after != current:
            changes.append((_transition(zone, instant, following, current), after))
            current = after
        instant = following
    return initial, changes


def _since_midnight(moment: time) -> timedelta:
    return timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond)


def _utcoffset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _wall_clock_span(zone: ZoneInfo, local_start: timedelta, local_end: timedelta) -> list[_Span]:
    """The instants whose wall-clock reading lies in [local_start, local_end), on a day the clocks change.

    Local times are offsets from a naive epoch. The answer is one span, or two when the block lies
    inside the hour that is repeated after clocks fall back.
    """
    readings = [
        _utcoffset((_NAIVE_EPOCH + local).replace(tzinfo=zone, fold=fold))
        for local in (local_start, local_end)
        for fold in (0, 1)
    ]
    earliest = local_start - max(readings)
    latest = local_end - min(readings)
    before = _offset_at(zone, earliest)
    after = _offset_at(zone, latest)
    if before == after:
        return [(local_start - before, local_end - before)]
    change = _transition(zone, earliest, latest, before)
    spans = []
    start, end = local_start - before, min(local_end - before, change)
    if start < end:
        spans.append((start, end))
    start, end = max(local_start - after, change), local_end - after
    if start < end:
        spans.append((start, end))
    return spans


def _offset_at(zone: ZoneInfo, instant: timedelta) -> timedelta:
    return _utcoffset((_EPOCH + instant).astimezone(zone))


def _transition(zone: ZoneInfo, earliest: timedelta, latest: timedelta, before: timedelta) -> timedelta:
    """The instant the offset stops being ``before``, somewhere in (earliest, latest].

    zoneinfo has no public list of transitions, so bisect on whole seconds, which is the precision
    the tz database uses.
    """
    second = timedelta(seconds=1)
    low, high = earliest // second, -(-latest // second)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, timedelta(seconds=middle)) == before:
            low = middle
        else:
            high = middle
    return timedelta(seconds=high)


def _merge(spans: list[_Span]) -> list[_Span]:
    """Sorted, disjoint and maximal: touching spans are joined, so a slot across the seam still fits."""
    merged: list[_Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _clip(spans: list[_Span], window: _Span) -> list[_Span]:
    clipped = []
    for start, end in spans:
        start, end = max(start, window[0]), min(end, window[1])
        if start < end:
            clipped.append((start, end))
    return clipped


def _busy_union(
    person: Participant, buffer_before: timedelta, buffer_after: timedelta
) -> tuple[list[timedelta], list[timedelta]]:
    """The person's busy time widened by the buffers, as sorted spans (starts, ends) that may overlap.

    A slot's trailing buffer overlaps a busy interval exactly when the slot itself overlaps that
    interval stretched ``buffer_after`` earlier, and likewise for the leading buffer, so widening the
    busy time once is the same as widening every candidate slot.

    This is the hot path (thousands of intervals per person), so it runs as C-level map and sort
    calls rather than a Python loop.
    """
    busy = person.busy
    try:
        starts = _since_epoch(map(operator.attrgetter("start"), busy))
        ends = _since_epoch(map(operator.attrgetter("end"), busy))
    except TypeError:
        # Subtracting an aware epoch from a naive datetime is what raised; find it for the message.
        naive = next((i for i in busy if _is_naive(i.start) or _is_naive(i.end)), None)
        if naive is None:
            raise
        raise SlotRequestError(
            f"Participant {person.key} has a busy time without a time zone, from {naive.start.isoformat()} "
            f"to {naive.end.isoformat()}; give busy times with their time zone."
        ) from None
    if any(map(operator.lt, ends, starts)):
        reversed_ = next(i for i in busy if i.end < i.start)
        raise SlotRequestError(
            f"Participant {person.key} has a busy time that ends ({reversed_.end.isoformat()}) before it starts "
            f"({reversed_.start.isoformat()}); swap or correct the two times."
        )
    if not starts:
        return [], []

    # With starts and ends sorted separately, coverage falls to zero exactly where the k-th smallest
    # end comes before the (k+1)-th smallest start, so the union needs no per-interval Python code.
    starts.sort()
    ends.sort()
    later_starts = starts[1:]
    gap_after = list(map(operator.lt, ends, later_starts))
    union_starts = [starts[0], *itertools.compress(later_starts, gap_after)]
    union_ends = [*itertools.compress(ends, gap_after), ends[-1]]
    # Pieces made only of zero-length busy times are empty; left in, they would split free time.
    keep = list(map(operator.lt, union_starts, union_ends))
    union_starts = list(itertools.compress(union_starts, keep))
    union_ends = list(itertools.compress(union_ends, keep))
    # Widening the union rather than every interval is the same set and half the work. Widened
    # pieces may now overlap their neighbours, which _subtract allows for.
    if buffer_after:
        union_starts = list(map(operator.sub, union_starts, itertools.repeat(buffer_after)))
    if buffer_before:
        union_ends = list(map(operator.add, union_ends, itertools.repeat(buffer_before)))
    return union_starts, union_ends


def _since_epoch(moments: Iterable[datetime]) -> list[timedelta]:
    return list(map(operator.sub, moments, itertools.repeat(_EPOCH)))


def _subtract(spans: list[_Span], cut_starts: list[timedelta], cut_ends: list[timedelta]) -> list[_Span]:
    """``spans`` (sorted, disjoint) minus the cuts (sorted by both start and end, possibly overlapping).

    Only the cuts that touch a span are visited.
    """
    free: list[_Span] = []
    count = len(cut_starts)
    for start, end in spans:
        index = bisect.bisect_right(cut_ends, start)
        cursor = start
        while index < count and (cut_start := cut_starts[index]) < end:
            if cut_start > cursor:
                free.append((cursor, cut_start))
            if (cut_end := cut_ends[index]) > cursor:
                cursor = cut_end
            index += 1
        if cursor < end:
            free.append((cursor, end))
    return free


def _intersect(first: list[_Span], second: list[_Span]) -> list[_Span]:
    common: list[_Span] = []
    i = j = 0
    while i < len(first) and j < len(second):
        first_start, first_end = first[i]
        second_start, second_end = second[j]
        start = first_start if first_start > second_start else second_start
        if first_end < second_end:
            end = first_end
            i += 1
        else:
            end = second_end
            j += 1
        if start < end:
            common.append((start, end))
    return common


def _contains(spans: list[_Span], instant: timedelta) -> bool:
    index = bisect.bisect_right(spans, (instant, timedelta.max)) - 1
    return index >= 0 and instant < spans[index][1]


def _align_up(instant: timedelta, granularity: timedelta) -> timedelta:
    remainder = instant % granularity
    return instant if not remainder else instant + granularity - remainder


def _best_starts(
    required: list[_Span], optional: Sequence[list[_Span]], granularity: timedelta, limit: int
) -> list[timedelta]:
    """The best ``limit`` aligned starts inside ``required``, ranked by optional people free, then time.

    The number of optional people free is constant between their span edges, so one sweep in time
    order cuts ``required`` into pieces of constant count. Each count keeps its own earliest
    ``limit`` starts; a count stops collecting once the better counts already hold ``limit``. The
    work is bounded by the number of span edges and ``limit``, not by how many aligned starts the
    window holds, so a fine granularity costs nothing extra.
    """
    edges = sorted(itertools.chain.from_iterable(((start, 1), (end, -1)) for spans in optional for start, end in spans))
    top = len(optional)
    buckets: list[list[timedelta]] = [[] for _ in range(top + 1)]
    free_now = 0
    index = 0

    def collect(start: timedelta, end: timedelta) -> None:
        bucket = buckets[free_now]
        if len(bucket) >= limit or sum(map(len, buckets[free_now + 1 :])) >= limit:
            return
        candidate = _align_up(start, granularity)
        while candidate < end and len(bucket) < limit:
            bucket.append(candidate)
            candidate += granularity

    for start, end in required:
        while index < len(edges) and edges[index][0] <= start:
            free_now += edges[index][1]
            index += 1
        piece_start = start
        while index < len(edges) and edges[index][0] < end:
            edge = edges[index][0]
            collect(piece_start, edge)
            while index < len(edges) and edges[index][0] == edge:
                free_now += edges[index][1]
                index += 1
            piece_start = edge
        collect(piece_start, end)
        # The best bucket fills in time order, so nothing later can displace it.
        if len(buckets[top]) >= limit:
            break

    ranked = list(itertools.chain.from_iterable(reversed(buckets)))
    return ranked[:limit]
