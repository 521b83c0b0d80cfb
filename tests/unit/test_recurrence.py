"""Weekly series: bounded rules, wall-clock time across DST, moves, cancellations, splits."""

from __future__ import annotations

import datetime as dt

import pytest

from conference.scheduling.recurrence import (
    OccurrenceChange,
    RecurrenceError,
    instances,
    normalise_rule,
    split_rule,
    starts,
)

UTC = dt.UTC


@pytest.mark.parametrize(
    ("zone", "first", "expected_hours"),
    [
        # New York 09:00: 14:00Z in winter, 13:00Z after 8 March 2026
        ("America/New_York", dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC), [14, 13, 13]),
        # London 09:00: 09:00Z in winter, 08:00Z after 29 March 2026
        ("Europe/London", dt.datetime(2026, 3, 23, 9, 0, tzinfo=UTC), [9, 8, 8]),
        # Sydney 09:00: 22:00Z the day before while on daylight time, 23:00Z after 5 April 2026
        ("Australia/Sydney", dt.datetime(2026, 3, 29, 22, 0, tzinfo=UTC), [22, 23, 23]),
        # New York in autumn: 13:00Z until 1 November 2026, then 14:00Z
        ("America/New_York", dt.datetime(2026, 10, 26, 13, 0, tzinfo=UTC), [13, 14, 14]),
    ],
)
def test_series_keep_their_wall_clock_time_across_daylight_saving(zone, first, expected_hours) -> None:  # type: ignore[no-untyped-def]
    found = starts(first, zone, normalise_rule("FREQ=WEEKLY;COUNT=3"))
    assert [moment.hour for moment in found] == expected_hours
    assert len({moment.astimezone(dt.UTC).weekday() for moment in found}) >= 1


def test_until_bounds_the_series_and_is_inclusive_of_that_day() -> None:
    first = dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    found = starts(first, "America/New_York", normalise_rule("FREQ=WEEKLY;UNTIL=20260316"))
    assert [moment.day for moment in found] == [2, 9, 16]


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=WEEKLY", "needs an end"),
        ("FREQ=DAILY;COUNT=5", "Only weekly"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be"),
        ("FREQ=WEEKLY;COUNT=500", "COUNT must be"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101", "not both"),
        ("FREQ=WEEKLY;UNTIL=tomorrow", "UNTIL must be"),
        ("FREQ=WEEKLY;COUNT=3;BYSETPOS=1", "may not use BYSETPOS"),
        ("FREQ=WEEKLY;COUNT", "NAME=VALUE"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: str, words: str) -> None:
    with pytest.raises(RecurrenceError, match=words):
        normalise_rule(rule)


def test_a_series_longer_than_two_years_is_refused() -> None:
    first = dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    with pytest.raises(RecurrenceError, match="two years"):
        starts(first, "UTC", normalise_rule("FREQ=WEEKLY;INTERVAL=4;COUNT=40"))


def test_moves_and_cancellations_apply_to_their_occurrence() -> None:
    first = dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    rule = normalise_rule("FREQ=WEEKLY;COUNT=4")
    originals = starts(first, "America/New_York", rule)
    moved_to = originals[2] + dt.timedelta(days=1)
    changes = [
        OccurrenceChange(originals[1], True, originals[1], originals[1] + dt.timedelta(hours=1)),
        OccurrenceChange(originals[2], False, moved_to, moved_to + dt.timedelta(hours=1)),
    ]
    found = instances(first, first + dt.timedelta(hours=1), "America/New_York", rule, changes)
    assert [(i.recurrence_id, i.cancelled, i.moved) for i in found] == [
        (originals[0], False, False),
        (originals[1], True, False),
        (originals[2], False, True),
        (originals[3], False, False),
    ]
    assert found[2].start == moved_to
    window = instances(
        first,
        first + dt.timedelta(hours=1),
        "America/New_York",
        rule,
        changes,
        window_start=originals[2],
        window_end=originals[3],
    )
    assert [i.recurrence_id for i in window] == [originals[2]]


def test_splitting_keeps_every_occurrence_once() -> None:
    first = dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    rule = normalise_rule("FREQ=WEEKLY;COUNT=6")
    originals = starts(first, "America/New_York", rule)
    before, after = split_rule(rule, first, "America/New_York", originals[4])
    assert starts(first, "America/New_York", before) == originals[:4]
    assert starts(originals[4], "America/New_York", after) == originals[4:]
    with pytest.raises(RecurrenceError):
        split_rule(rule, first, "America/New_York", originals[0])
    with pytest.raises(RecurrenceError):
        split_rule(rule, first, "America/New_York", originals[0] + dt.timedelta(hours=1))
