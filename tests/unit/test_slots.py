"""Slot finding: exact answers, clock changes in several zones, validation wording, and a brute-force law."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conference.scheduling.slots import (
    Interval,
    Participant,
    Slot,
    SlotRequest,
    SlotRequestError,
    WeeklyHours,
    find_slots,
)

MONDAY = 0
SUNDAY = 6
EVERY_DAY = range(7)
MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(days: range | list[int], start: time, end: time) -> tuple[WeeklyHours, ...]:
    return tuple(WeeklyHours(day, start, end) for day in days)


def person(
    key: str,
    zone: str,
    working: tuple[WeeklyHours, ...],
    busy: tuple[Interval, ...] = (),
    required: bool = True,
) -> Participant:
    return Participant(key, zone, working, busy, required)


def request(*participants: Participant, **options: object) -> SlotRequest:
    defaults: dict[str, object] = {
        "duration": timedelta(minutes=30),
        "window_start": utc(2026, 1, 12),
        "window_end": utc(2026, 1, 13),
    }
    return SlotRequest(participants=participants, **{**defaults, **options})  # type: ignore[arg-type]


def starts(slots: list[Slot]) -> list[datetime]:
    return [slot.start for slot in slots]


# Monday 12 January 2026, winter on both sides of the Atlantic.
# New York 09:00-12:00 EST is 14:00-17:00 UTC; London 15:00-17:30 GMT is 15:00-17:30 UTC.
NY = person("ny", "America/New_York", hours([MONDAY], time(9), time(12)))
LONDON = person("ldn", "Europe/London", hours([MONDAY], time(15), time(17, 30)))
NY_BUSY = dataclasses.replace(NY, busy=(Interval(utc(2026, 1, 12, 15, 30), utc(2026, 1, 12, 16)),))


# --- exact answers -------------------------------------------------------------------------------


def test_two_people_get_exactly_the_common_free_slots() -> None:
    slots = find_slots(request(NY_BUSY, LONDON))

    assert slots == [
        Slot(utc(2026, 1, 12, 15), utc(2026, 1, 12, 15, 30), (), ()),
        Slot(utc(2026, 1, 12, 16), utc(2026, 1, 12, 16, 30), (), ()),
        Slot(utc(2026, 1, 12, 16, 15), utc(2026, 1, 12, 16, 45), (), ()),
        Slot(utc(2026, 1, 12, 16, 30), utc(2026, 1, 12, 17), (), ()),
    ]
    assert all(slot.start.tzinfo is UTC and slot.end.tzinfo is UTC for slot in slots)


def test_a_slot_may_end_exactly_when_a_working_block_or_the_window_ends() -> None:
    slots = find_slots(request(NY, window_start=utc(2026, 1, 12, 16), window_end=utc(2026, 1, 12, 16, 45)))

    assert starts(slots) == [utc(2026, 1, 12, 16), utc(2026, 1, 12, 16, 15)]
    assert find_slots(request(NY, duration=timedelta(hours=3)))[0].end == utc(2026, 1, 12, 17)


def test_touching_working_blocks_form_one_stretch() -> None:
    split = person(
        "split",
        "UTC",
        (WeeklyHours(MONDAY, time(9), time(10)), WeeklyHours(MONDAY, time(10), time(11))),
    )

    assert starts(find_slots(request(split, duration=timedelta(hours=2)))) == [utc(2026, 1, 12, 9)]


def test_starts_round_up_to_the_granularity_in_utc() -> None:
    anyone = person("utc", "UTC", hours(EVERY_DAY, time(0), time(23, 59)))

    quarter = find_slots(request(anyone, window_start=utc(2026, 1, 12, 7, 7), limit=3))
    assert starts(quarter) == [utc(2026, 1, 12, 7, 15), utc(2026, 1, 12, 7, 30), utc(2026, 1, 12, 7, 45)]

    # 7 minutes does not divide a day, so the grid is counted from 1970-01-01 00:00 UTC, not from midnight.
    odd = find_slots(request(anyone, granularity=timedelta(minutes=7), limit=5))
    assert all((slot.start - EPOCH) % timedelta(minutes=7) == timedelta(0) for slot in odd)
    assert starts(odd)[:2] == [utc(2026, 1, 12, 0, 1), utc(2026, 1, 12, 0, 8)]


def test_alignment_is_in_utc_even_for_a_half_hour_zone() -> None:
    # Kolkata is UTC+05:30, so an hourly grid in UTC lands on half past the hour locally.
    kolkata = person("kol", "Asia/Kolkata", hours([MONDAY], time(9), time(12)))

    slots = find_slots(request(kolkata, granularity=timedelta(hours=1), duration=timedelta(hours=1)))

    assert starts(slots) == [utc(2026, 1, 12, 4), utc(2026, 1, 12, 5)]  # 09:30 and 10:30 in Kolkata


def test_a_participant_without_working_hours_is_never_available() -> None:
    assert find_slots(request(NY, person("away", "UTC", ()))) == []


# --- buffers -------------------------------------------------------------------------------------


def test_buffers_must_be_free_of_busy_time() -> None:
    slots = find_slots(
        request(NY_BUSY, LONDON, buffer_before=timedelta(minutes=10), buffer_after=timedelta(minutes=10))
    )

    # 15:00 would run its trailing buffer into the 15:30 meeting, 16:00 its leading buffer.
    assert starts(slots) == [utc(2026, 1, 12, 16, 15), utc(2026, 1, 12, 16, 30)]


def test_buffers_may_fall_outside_working_hours() -> None:
    # London starts at 15:00 and New York stops at 17:00 UTC; the buffers reach past both edges.
    slots = find_slots(request(NY, LONDON, buffer_before=timedelta(minutes=30), buffer_after=timedelta(minutes=30)))

    assert slots[0].start == utc(2026, 1, 12, 15)
    assert slots[-1].end == utc(2026, 1, 12, 17)


def test_buffers_see_busy_time_outside_the_window() -> None:
    busy_before = dataclasses.replace(NY, busy=(Interval(utc(2026, 1, 12, 14, 30), utc(2026, 1, 12, 14, 55)),))
    window = {"window_start": utc(2026, 1, 12, 15), "window_end": utc(2026, 1, 12, 16)}

    assert starts(find_slots(request(busy_before, **window)))[0] == utc(2026, 1, 12, 15)
    assert starts(find_slots(request(busy_before, buffer_before=timedelta(minutes=10), **window)))[0] == utc(
        2026, 1, 12, 15, 15
    )


def test_the_after_buffer_keeps_a_gap_before_the_next_meeting() -> None:
    next_meeting = dataclasses.replace(NY, busy=(Interval(utc(2026, 1, 12, 15), utc(2026, 1, 12, 16)),))
    window = {"window_start": utc(2026, 1, 12, 14), "window_end": utc(2026, 1, 12, 15)}

    assert starts(find_slots(request(next_meeting, **window)))[-1] == utc(2026, 1, 12, 14, 30)
    assert starts(find_slots(request(next_meeting, buffer_after=timedelta(minutes=1), **window)))[-1] == utc(
        2026, 1, 12, 14, 15
    )


# --- optional participants and the limit ---------------------------------------------------------


def test_optional_participants_rank_slots_but_never_exclude_them() -> None:
    # Free (in UTC): supervisor 16:00-17:00, pharmacist 16:30-17:00 and 15:00-15:30.
    supervisor = person("sup", "UTC", hours([MONDAY], time(16), time(17)), required=False)
    pharmacist = person(
        "pharm",
        "Asia/Kolkata",  # 20:30-22:30 in Kolkata is 15:00-17:00 UTC
        hours([MONDAY], time(20, 30), time(22, 30)),
        busy=(Interval(utc(2026, 1, 12, 15, 30), utc(2026, 1, 12, 16, 30)),),
        required=False,
    )

    slots = find_slots(request(pharmacist, NY_BUSY, supervisor, LONDON))

    assert [(slot.start, slot.optional_free, slot.optional_busy) for slot in slots] == [
        (utc(2026, 1, 12, 16, 30), ("pharm", "sup"), ()),
        (utc(2026, 1, 12, 15), ("pharm",), ("sup",)),
        (utc(2026, 1, 12, 16), ("sup",), ("pharm",)),
        (utc(2026, 1, 12, 16, 15), ("sup",), ("pharm",)),
    ]


def test_limit_keeps_the_best_slots() -> None:
    supervisor = person("sup", "UTC", hours([MONDAY], time(16, 30), time(17)), required=False)

    everything = find_slots(request(NY_BUSY, LONDON, supervisor))
    assert starts(everything) == [
        utc(2026, 1, 12, 16, 30),
        utc(2026, 1, 12, 15),
        utc(2026, 1, 12, 16),
        utc(2026, 1, 12, 16, 15),
    ]
    for limit in (1, 2, 3):
        assert find_slots(request(NY_BUSY, LONDON, supervisor, limit=limit)) == everything[:limit]
    assert find_slots(request(NY_BUSY, LONDON, supervisor, limit=100)) == everything


def test_the_default_limit_is_twenty() -> None:
    anyone = person("utc", "UTC", hours(EVERY_DAY, time(0), time(23, 59)))

    assert len(find_slots(request(anyone))) == 20


# --- messy busy time -----------------------------------------------------------------------------


def test_busy_intervals_may_overlap_come_unsorted_and_in_any_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    tokyo = ZoneInfo("Asia/Tokyo")
    messy = (
        Interval(utc(2026, 1, 12, 16, 40), utc(2026, 1, 12, 16, 50)),
        Interval(datetime(2026, 1, 12, 9, 10, tzinfo=new_york), datetime(2026, 1, 12, 9, 20, tzinfo=new_york)),
        Interval(utc(2026, 1, 12, 16, 45), utc(2026, 1, 12, 16, 55)),  # overlaps the first
        Interval(datetime(2026, 1, 13, 0, 20, tzinfo=tokyo), datetime(2026, 1, 13, 0, 30, tzinfo=tokyo)),  # 15:20Z
        Interval(utc(2026, 1, 12, 14, 10), utc(2026, 1, 12, 14, 20)),  # the New York one again, in UTC
        Interval(utc(2026, 1, 12, 16, 50), utc(2026, 1, 12, 16, 52)),  # inside the second
        Interval(utc(2026, 1, 12, 15, 30), utc(2026, 1, 12, 15, 30)),  # zero length: blocks nothing
    )
    merged = (
        Interval(utc(2026, 1, 12, 14, 10), utc(2026, 1, 12, 14, 20)),
        Interval(utc(2026, 1, 12, 15, 20), utc(2026, 1, 12, 15, 30)),
        Interval(utc(2026, 1, 12, 16, 40), utc(2026, 1, 12, 16, 55)),
    )

    found = find_slots(request(dataclasses.replace(NY, busy=messy), limit=100))
    for order in range(5):
        shuffled = list(messy)
        random.Random(order).shuffle(shuffled)
        again = find_slots(request(dataclasses.replace(NY, busy=tuple(shuffled)), limit=100))
        assert again == found
    assert found == find_slots(request(dataclasses.replace(NY, busy=merged), limit=100))
    assert starts(found) == [
        utc(2026, 1, 12, 14, 30),
        utc(2026, 1, 12, 14, 45),
        utc(2026, 1, 12, 15, 30),
        utc(2026, 1, 12, 15, 45),
        utc(2026, 1, 12, 16),
    ]


def test_busy_time_touching_a_slot_does_not_block_it() -> None:
    touching = dataclasses.replace(
        NY,
        busy=(
            Interval(utc(2026, 1, 12, 14), utc(2026, 1, 12, 14, 30)),
            Interval(utc(2026, 1, 12, 15), utc(2026, 1, 12, 17)),
        ),
    )

    assert starts(find_slots(request(touching))) == [utc(2026, 1, 12, 14, 30)]


# --- clock changes -------------------------------------------------------------------------------


def daily(first: date, last: date, hour: int, minute: int = 0) -> list[datetime]:
    return [
        datetime.combine(first + timedelta(days=n), time(hour, minute), tzinfo=UTC)
        for n in range((last - first).days + 1)
    ]


NINE_TO_FIVE = hours(EVERY_DAY, time(9), time(17))

# (zone, window start, window end, expected UTC starts of the 8-hour day), spelled out by hand.
WEEKS_ACROSS_A_CHANGE = [
    pytest.param(
        "America/New_York",
        utc(2026, 3, 5),
        utc(2026, 3, 12),
        daily(date(2026, 3, 5), date(2026, 3, 7), 14) + daily(date(2026, 3, 8), date(2026, 3, 11), 13),
        id="new-york-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        utc(2026, 10, 29),
        utc(2026, 11, 5),
        daily(date(2026, 10, 29), date(2026, 10, 31), 13) + daily(date(2026, 11, 1), date(2026, 11, 4), 14),
        id="new-york-fall-back",
    ),
    pytest.param(
        "Europe/London",
        utc(2026, 3, 26),
        utc(2026, 4, 2),
        daily(date(2026, 3, 26), date(2026, 3, 28), 9) + daily(date(2026, 3, 29), date(2026, 4, 1), 8),
        id="london-spring-forward",
    ),
    pytest.param(
        "Europe/London",
        utc(2026, 10, 22),
        utc(2026, 10, 29),
        daily(date(2026, 10, 22), date(2026, 10, 24), 8) + daily(date(2026, 10, 25), date(2026, 10, 28), 9),
        id="london-fall-back",
    ),
    pytest.param(
        # Sydney's working day starts the evening before in UTC; clocks go back on 5 April.
        "Australia/Sydney",
        utc(2026, 4, 1),
        utc(2026, 4, 8),
        daily(date(2026, 4, 1), date(2026, 4, 3), 22) + daily(date(2026, 4, 4), date(2026, 4, 6), 23),
        id="sydney-fall-back",
    ),
    pytest.param(
        # ... and forward on 4 October.
        "Australia/Sydney",
        utc(2026, 10, 1),
        utc(2026, 10, 8),
        daily(date(2026, 10, 1), date(2026, 10, 2), 23) + daily(date(2026, 10, 3), date(2026, 10, 6), 22),
        id="sydney-spring-forward",
    ),
    pytest.param(
        "Asia/Kolkata",
        utc(2026, 3, 5),
        utc(2026, 3, 12),
        daily(date(2026, 3, 5), date(2026, 3, 11), 3, 30),
        id="kolkata-has-no-change",
    ),
]


@pytest.mark.parametrize(("zone", "window_start", "window_end", "expected"), WEEKS_ACROSS_A_CHANGE)
def test_a_week_across_a_clock_change_keeps_local_hours(
    zone: str, window_start: datetime, window_end: datetime, expected: list[datetime]
) -> None:
    slots = find_slots(
        request(
            person("p", zone, NINE_TO_FIVE),
            duration=timedelta(hours=8),
            window_start=window_start,
            window_end=window_end,
        )
    )

    assert starts(slots) == expected


def overlap_days(periods: list[tuple[date, date, list[int]]]) -> list[datetime]:
    return sorted(
        start for first, last, start_hours in periods for hour in start_hours for start in daily(first, last, hour)
    )


@pytest.mark.parametrize(
    ("people", "duration", "window_start", "window_end", "expected"),
    [
        pytest.param(
            # New York 09-17 and London 09-17: 14-17 UTC, then 13-17 once New York moves (8 March),
            # then 13-16 once London does (29 March).
            [("America/New_York", time(9), time(17)), ("Europe/London", time(9), time(17))],
            timedelta(hours=3),
            utc(2026, 3, 2),
            utc(2026, 4, 4),
            overlap_days(
                [
                    (date(2026, 3, 2), date(2026, 3, 7), [14]),
                    (date(2026, 3, 8), date(2026, 3, 28), [13, 14]),
                    (date(2026, 3, 29), date(2026, 4, 3), [13]),
                ]
            ),
            id="new-york-and-london-in-spring",
        ),
        pytest.param(
            # London moves back first (25 October), New York a week later (1 November).
            [("America/New_York", time(9), time(17)), ("Europe/London", time(9), time(17))],
            timedelta(hours=3),
            utc(2026, 10, 19),
            utc(2026, 11, 7),
            overlap_days(
                [
                    (date(2026, 10, 19), date(2026, 10, 24), [13]),
                    (date(2026, 10, 25), date(2026, 10, 31), [13, 14]),
                    (date(2026, 11, 1), date(2026, 11, 6), [14]),
                ]
            ),
            id="new-york-and-london-in-autumn",
        ),
        pytest.param(
            # Sydney 17-22 and London 07-12: 07-11 UTC, 06-11 between London's and Sydney's changes.
            [("Australia/Sydney", time(17), time(22)), ("Europe/London", time(7), time(12))],
            timedelta(hours=4),
            utc(2026, 3, 23),
            utc(2026, 4, 12),
            overlap_days(
                [
                    (date(2026, 3, 23), date(2026, 3, 28), [7]),
                    (date(2026, 3, 29), date(2026, 4, 4), [6, 7]),
                    (date(2026, 4, 5), date(2026, 4, 11), [7]),
                ]
            ),
            id="sydney-and-london-in-march-and-april",
        ),
        pytest.param(
            [("Australia/Sydney", time(17), time(22)), ("Europe/London", time(7), time(12))],
            timedelta(hours=4),
            utc(2026, 9, 28),
            utc(2026, 10, 31),
            overlap_days(
                [
                    (date(2026, 9, 28), date(2026, 10, 3), [7]),
                    (date(2026, 10, 4), date(2026, 10, 24), [6, 7]),
                    (date(2026, 10, 25), date(2026, 10, 30), [7]),
                ]
            ),
            id="sydney-and-london-in-october",
        ),
    ],
)
def test_two_zones_across_both_of_their_changes(
    people: list[tuple[str, time, time]],
    duration: timedelta,
    window_start: datetime,
    window_end: datetime,
    expected: list[datetime],
) -> None:
    participants = [person(f"p{n}", zone, hours(EVERY_DAY, start, end)) for n, (zone, start, end) in enumerate(people)]
    slots = find_slots(
        request(
            *participants,
            duration=duration,
            granularity=timedelta(hours=1),
            window_start=window_start,
            window_end=window_end,
            limit=1000,
        )
    )

    assert sorted(starts(slots)) == expected


def assert_inside_local_hours(slot: Slot, participant: Participant) -> None:
    zone = ZoneInfo(participant.time_zone)
    moment = slot.start
    while moment < slot.end:
        local = moment.astimezone(zone)
        assert any(
            block.weekday == local.weekday() and block.start <= local.time() < block.end
            for block in participant.working_hours
        ), f"{slot.start:%Y-%m-%d %H:%M}Z is {local:%a %H:%M %Z} for {participant.key}, outside their hours"
        moment += MINUTE


@pytest.mark.parametrize(
    ("window_start", "window_end"),
    [
        pytest.param(utc(2026, 3, 1), utc(2026, 4, 12), id="spring"),
        pytest.param(utc(2026, 9, 27), utc(2026, 11, 8), id="autumn"),
    ],
)
def test_slots_lie_inside_everyones_local_hours_across_the_changes(
    window_start: datetime, window_end: datetime
) -> None:
    weekdays = range(5)
    team = (
        person("ny", "America/New_York", hours(weekdays, time(8), time(18))),
        person("ldn", "Europe/London", hours(weekdays, time(9), time(12)) + hours(weekdays, time(13), time(18))),
        person("kol", "Asia/Kolkata", hours(weekdays, time(17), time(23, 30))),
        person("syd", "Australia/Sydney", hours(EVERY_DAY, time(6), time(9)), required=False),
    )

    slots = find_slots(
        request(*team, duration=timedelta(minutes=45), window_start=window_start, window_end=window_end, limit=10_000)
    )

    assert len({slot.start.date() for slot in slots}) == 30  # every weekday of the six weeks
    for slot in slots:
        for participant in team[:3]:
            assert_inside_local_hours(slot, participant)
        if "syd" in slot.optional_free:
            assert_inside_local_hours(slot, team[3])


SWITCH_DAY_BLOCKS = [
    pytest.param(
        date(2026, 3, 8), time(0), time(4), timedelta(hours=3), [utc(2026, 3, 8, 5)], id="spring-block-loses-an-hour"
    ),
    pytest.param(
        date(2026, 3, 8), time(0), time(4), timedelta(hours=3, minutes=15), [], id="spring-block-is-only-three-hours"
    ),
    pytest.param(date(2026, 3, 8), time(2), time(3), timedelta(minutes=15), [], id="spring-skipped-hour-never-happens"),
    pytest.param(
        date(2026, 3, 8),
        time(2, 30),
        time(4),
        timedelta(hours=1),
        [utc(2026, 3, 8, 7)],
        id="spring-block-starting-in-the-gap",
    ),
    pytest.param(
        date(2026, 11, 1), time(0), time(4), timedelta(hours=5), [utc(2026, 11, 1, 4)], id="autumn-block-gains-an-hour"
    ),
    pytest.param(
        date(2026, 11, 1),
        time(1),
        time(2),
        timedelta(hours=2),
        [utc(2026, 11, 1, 5)],
        id="autumn-repeated-hour-happens-twice-in-a-row",
    ),
    pytest.param(
        date(2026, 11, 1),
        time(1, 15),
        time(1, 45),
        timedelta(minutes=30),
        [utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 6, 15)],
        id="autumn-block-inside-the-repeated-hour-happens-twice",
    ),
    pytest.param(
        date(2026, 11, 1),
        time(0),
        time(1, 30),
        timedelta(minutes=30),
        # 00:00-01:30 EDT, then 01:00-01:30 again in EST; 01:30-02:00 EDT is outside the block.
        [utc(2026, 11, 1, 4, m) for m in (0, 15, 30, 45)] + [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)],
        id="autumn-block-ending-in-the-repeated-hour",
    ),
]


@pytest.mark.parametrize(("day", "start", "end", "duration", "expected"), SWITCH_DAY_BLOCKS)
def test_night_blocks_on_new_york_switch_days(
    day: date, start: time, end: time, duration: timedelta, expected: list[datetime]
) -> None:
    night = person("night", "America/New_York", hours([SUNDAY], start, end))
    window_start = datetime.combine(day, time(), tzinfo=UTC)

    slots = find_slots(
        request(
            night,
            duration=duration,
            window_start=window_start,
            window_end=window_start + timedelta(days=1),
            limit=100,
        )
    )

    assert starts(slots) == expected
    for slot in slots:
        assert_inside_local_hours(slot, night)


# --- validation ----------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 12, 9)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": timedelta(0)}, "The meeting length must be more than zero minutes."),
        ({"duration": timedelta(minutes=-30)}, "The meeting length must be more than zero minutes."),
        ({"duration": timedelta(hours=12, minutes=1)}, "The meeting length can be at most 12 hours"),
        ({"window_end": utc(2026, 1, 12)}, "The window must end after it starts."),
        ({"window_end": utc(2026, 1, 11)}, "The window must end after it starts."),
        ({"window_end": utc(2027, 1, 14)}, "scheduling horizons past a year are not supported"),
        ({"granularity": timedelta(0)}, "The step between possible start times must be more than zero minutes."),
        ({"granularity": timedelta(minutes=-15)}, "The step between possible start times must be more than zero"),
        ({"window_start": NAIVE}, r"The window start \(2026-01-12T09:00:00\) has no time zone"),
        ({"window_end": NAIVE}, r"The window end \(2026-01-12T09:00:00\) has no time zone"),
        ({"limit": 0}, "Ask for at least one slot: the limit must be 1 or more."),
        ({"limit": -3}, "Ask for at least one slot: the limit must be 1 or more."),
        (
            {"window_start": utc(9999, 12, 1), "window_end": datetime.max.replace(tzinfo=UTC)},
            "The window must lie between the years 2 and 9998.",
        ),
        ({"buffer_before": timedelta(minutes=-5)}, "The buffer before the meeting cannot be negative"),
        ({"buffer_after": timedelta(minutes=-5)}, "The buffer after the meeting cannot be negative"),
    ],
)
def test_request_errors_say_what_to_fix(change: dict[str, object], message: str) -> None:
    with pytest.raises(SlotRequestError, match=message):
        find_slots(dataclasses.replace(request(NY, LONDON), **change))  # type: ignore[arg-type]


def test_a_year_and_a_day_is_still_accepted() -> None:
    assert find_slots(request(NY, window_end=utc(2026, 1, 12) + timedelta(days=366))) != []
    assert find_slots(request(NY, duration=timedelta(hours=12))) == []  # allowed, just no room for it


@pytest.mark.parametrize(
    ("participants", "message"),
    [
        ((), "Mark at least one participant as required"),
        ((dataclasses.replace(NY, required=False),), "Mark at least one participant as required"),
        (
            (NY, dataclasses.replace(LONDON, time_zone="Mars/Olympus_Mons")),
            'Participant ldn has an unknown time zone "Mars/Olympus_Mons"; use an IANA time zone name',
        ),
        ((dataclasses.replace(NY, time_zone=""),), 'Participant ny has an unknown time zone ""'),
        ((dataclasses.replace(NY, time_zone="../../etc/passwd"),), "Participant ny has an unknown time zone"),
        (
            (dataclasses.replace(NY, working_hours=(WeeklyHours(7, time(9), time(17)),)),),
            r"Participant ny has working hours on weekday 7; weekdays run from 0 \(Monday\) to 6 \(Sunday\).",
        ),
        (
            (dataclasses.replace(NY, working_hours=(WeeklyHours(-1, time(9), time(17)),)),),
            "Participant ny has working hours on weekday -1",
        ),
        (
            (dataclasses.replace(NY, working_hours=(WeeklyHours(0, time(17), time(9)),)),),
            "Participant ny has working hours from 17:00 to 09:00; the end must be later than the start",
        ),
        (
            (dataclasses.replace(NY, working_hours=(WeeklyHours(0, time(9), time(9)),)),),
            "Participant ny has working hours from 09:00 to 09:00",
        ),
        (
            (dataclasses.replace(NY, working_hours=(WeeklyHours(0, time(9, tzinfo=UTC), time(17, tzinfo=UTC)),)),),
            "Participant ny has working hours with a time zone attached",
        ),
        ((NY, LONDON, NY), "Participant ny is listed more than once"),
        (
            (dataclasses.replace(NY, busy=(Interval(NAIVE, NAIVE + timedelta(hours=1)),)),),
            "Participant ny has a busy time without a time zone, from 2026-01-12T09:00:00 to 2026-01-12T10:00:00",
        ),
        (
            (dataclasses.replace(NY, busy=(Interval(utc(2026, 1, 12, 15), utc(2026, 1, 12, 14)),)),),
            r"Participant ny has a busy time that ends \(2026-01-12T14:00:00\+00:00\) before it starts",
        ),
    ],
)
def test_participant_errors_say_who_and_what_to_fix(participants: tuple[Participant, ...], message: str) -> None:
    with pytest.raises(SlotRequestError, match=message):
        find_slots(request(*participants))


def test_a_bad_busy_time_is_reported_even_when_there_is_no_common_time() -> None:
    naive_busy = (Interval(NAIVE, NAIVE + timedelta(hours=1)),)
    cases = [
        (dataclasses.replace(NY, working_hours=(), busy=naive_busy),),
        (person("off", "UTC", ()), dataclasses.replace(LONDON, busy=naive_busy, required=False)),
    ]
    for participants in cases:
        with pytest.raises(SlotRequestError, match="has a busy time without a time zone"):
            find_slots(request(*participants))


def test_request_errors_are_value_errors() -> None:
    assert issubclass(SlotRequestError, ValueError)


# --- the law: same answer as a brute-force scan --------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Australia/Lord_Howe"]
# Days on or next to a clock change in at least one of the zones above, and one quiet day.
INTERESTING_DAYS = [
    date(2026, 1, 15),
    date(2026, 3, 7),
    date(2026, 3, 8),
    date(2026, 3, 28),
    date(2026, 4, 4),
    date(2026, 10, 3),
    date(2026, 10, 24),
    date(2026, 10, 31),
    date(2026, 11, 1),
]


@st.composite
def participants(draw: st.DrawFn, key: str, required: bool, near: datetime) -> Participant:
    zone = draw(st.sampled_from(ZONES))
    blocks: list[WeeklyHours] = []
    # Mostly long blocks, so that people in different zones overlap often enough to be interesting.
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 16 * 60))
        end = draw(st.integers(start + 1, 23 * 60 + 59) | st.integers(start + 6 * 60, 23 * 60 + 59))
        days = draw(st.one_of(st.just(EVERY_DAY), st.lists(st.integers(0, 6), min_size=1, max_size=3)))
        blocks.extend(hours(days, time(start // 60, start % 60), time(end // 60, end % 60)))
    busy = []
    for _ in range(draw(st.integers(0, 5))):
        busy_start = near + draw(st.integers(-6 * 60, 2 * 24 * 60)) * MINUTE
        busy_end = busy_start + draw(st.integers(0, 240)) * MINUTE
        shown_in = draw(st.sampled_from([UTC, ZoneInfo(zone)]))
        busy.append(Interval(busy_start.astimezone(shown_in), busy_end.astimezone(shown_in)))
    return Participant(key, zone, tuple(blocks), tuple(busy), required)


@st.composite
def slot_requests(draw: st.DrawFn) -> SlotRequest:
    day = draw(st.sampled_from(INTERESTING_DAYS))
    window_start = datetime.combine(day, time(), tzinfo=UTC) + draw(st.integers(-24 * 60, 24 * 60)) * MINUTE
    window_end = window_start + draw(st.integers(1, 2 * 24 * 60)) * MINUTE
    people = [draw(participants("p0", True, window_start))]
    for n in range(1, draw(st.integers(1, 4))):
        people.append(draw(participants(f"p{n}", draw(st.booleans()), window_start)))
    return SlotRequest(
        participants=tuple(people),
        duration=draw(st.integers(1, 36)) * 5 * MINUTE,
        window_start=window_start,
        window_end=window_end,
        granularity=draw(st.sampled_from([5, 15, 30, 45, 60])) * MINUTE,
        buffer_before=draw(st.sampled_from([0, 5, 15])) * MINUTE,
        buffer_after=draw(st.sampled_from([0, 10, 30])) * MINUTE,
        limit=draw(st.integers(1, 12)),
    )


def brute_force(req: SlotRequest) -> list[Slot]:
    """Every aligned start, checked minute by minute; exact because every input is on whole minutes."""
    minutes = (req.window_end - req.window_start) // MINUTE
    length = req.duration // MINUTE
    in_hours_so_far: dict[str, list[int]] = {}
    for participant in req.participants:
        zone = ZoneInfo(participant.time_zone)
        flags = []
        for m in range(minutes):
            local = (req.window_start + m * MINUTE).astimezone(zone)
            flags.append(
                any(
                    block.weekday == local.weekday() and block.start <= local.time() < block.end
                    for block in participant.working_hours
                )
            )
        in_hours_so_far[participant.key] = [0, *accumulate(flags)]

    def available(participant: Participant, start: datetime) -> bool:
        m = (start - req.window_start) // MINUTE
        if in_hours_so_far[participant.key][m + length] - in_hours_so_far[participant.key][m] != length:
            return False
        low, high = start - req.buffer_before, start + req.duration + req.buffer_after
        return not any(busy.start < high and low < busy.end and busy.start < busy.end for busy in participant.busy)

    candidates = []
    start = EPOCH + -(-(req.window_start - EPOCH) // req.granularity) * req.granularity
    while start + req.duration <= req.window_end:
        if all(available(p, start) for p in req.participants if p.required):
            optional = [p for p in req.participants if not p.required]
            free = tuple(p.key for p in optional if available(p, start))
            candidates.append(
                Slot(start, start + req.duration, free, tuple(p.key for p in optional if p.key not in free))
            )
        start += req.granularity
    candidates.sort(key=lambda slot: (-len(slot.optional_free), slot.start))
    return candidates[: req.limit]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slot_requests())
def test_find_slots_matches_a_brute_force_scan(req: SlotRequest) -> None:
    slots = find_slots(req)

    for slot in slots:
        assert req.window_start <= slot.start and slot.end <= req.window_end
        assert slot.end - slot.start == req.duration
        for participant in req.participants:
            if participant.required:
                assert_inside_local_hours(slot, participant)
                widened = (slot.start - req.buffer_before, slot.end + req.buffer_after)
                assert not any(
                    busy.start < widened[1] and widened[0] < busy.end and busy.start < busy.end
                    for busy in participant.busy
                )
    # Equal lists also mean that no better-ranked qualifying slot was skipped.
    assert slots == brute_force(req)
