"""When a room is open: a window around each occurrence, computed on real instants, and its settings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conference.rtc.window import RoomWindow, room_window
from conference.scheduling.recurrence import normalise_rule, starts
from conference.settings import Settings, SettingsError

UTC = dt.UTC
NEW_YORK = ZoneInfo("America/New_York")
QUARTER = dt.timedelta(minutes=15)
HOUR = dt.timedelta(hours=1)


def window_of(start: dt.datetime, minutes: int = 60) -> RoomWindow:
    return room_window(start, start + dt.timedelta(minutes=minutes), opens_before=QUARTER, closes_after=HOUR)


def test_the_room_opens_before_the_start_and_closes_after_the_end() -> None:
    start = dt.datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    window = window_of(start)
    assert window == RoomWindow(
        dt.datetime(2026, 11, 23, 19, 45, tzinfo=UTC), dt.datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    )


def test_open_from_the_first_moment_until_just_before_closing() -> None:
    window = window_of(dt.datetime(2026, 11, 23, 20, 0, tzinfo=UTC))
    tick = dt.timedelta(microseconds=1)
    assert not window.contains(window.opens_at - tick)
    assert window.contains(window.opens_at)
    assert window.contains(window.closes_at - tick)
    assert not window.contains(window.closes_at)


def test_instants_in_any_offset_are_the_same_instants() -> None:
    start = dt.datetime(2026, 11, 23, 15, 0, tzinfo=NEW_YORK)  # 20:00 UTC
    window = window_of(start)
    assert window == window_of(start.astimezone(UTC))
    assert window.opens_at.tzinfo is UTC and window.closes_at.tzinfo is UTC
    assert window.contains(dt.datetime(2026, 11, 23, 14, 50, tzinfo=NEW_YORK))
    assert not window.contains(dt.datetime(2026, 11, 23, 14, 40, tzinfo=NEW_YORK))


@pytest.mark.parametrize(
    ("first", "opens_utc"),
    [
        # 09:00 New York every Monday from 2 March 2026 (14:00Z); clocks go forward on 8 March, so the
        # second occurrence is at 13:00Z and its room opens at 12:45Z (08:45 local), not 13:45Z.
        (dt.datetime(2026, 3, 2, 14, 0, tzinfo=UTC), dt.datetime(2026, 3, 9, 12, 45, tzinfo=UTC)),
        # 09:00 New York from 26 October 2026 (13:00Z); clocks go back on 1 November: 14:00Z, opens 13:45Z.
        (dt.datetime(2026, 10, 26, 13, 0, tzinfo=UTC), dt.datetime(2026, 11, 2, 13, 45, tzinfo=UTC)),
    ],
)
def test_a_weekly_occurrence_after_a_daylight_saving_change_follows_its_real_start(
    first: dt.datetime, opens_utc: dt.datetime
) -> None:
    _, after_change = starts(first, "America/New_York", normalise_rule("FREQ=WEEKLY;COUNT=2"))
    window = window_of(after_change)
    assert window.opens_at == opens_utc
    # Same wall-clock time both weeks: 08:45 local, which a fixed seven days from the first would miss.
    assert window.opens_at.astimezone(NEW_YORK).time() == dt.time(8, 45)
    assert window.opens_at != window_of(first).opens_at + dt.timedelta(days=7)


def test_minutes_are_taken_off_the_instant_not_the_wall_clock() -> None:
    # 03:05 EDT on 8 March 2026, just after 02:00 EST became 03:00 EDT. Fifteen minutes earlier is
    # 01:50 EST (06:50Z); subtracting on the local clock would give 02:50, which does not exist and
    # resolves to 07:50Z, after the meeting has started.
    start = dt.datetime(2026, 3, 8, 3, 5, tzinfo=NEW_YORK)
    window = window_of(start)
    assert window.opens_at == dt.datetime(2026, 3, 8, 6, 50, tzinfo=UTC)
    assert window.opens_at < start


def test_naive_times_are_refused() -> None:
    naive = dt.datetime(2026, 11, 23, 20, 0)
    aware = naive.replace(tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        room_window(naive, aware + HOUR, opens_before=QUARTER, closes_after=HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        room_window(aware, naive + HOUR, opens_before=QUARTER, closes_after=HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        RoomWindow(naive, aware + HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        window_of(aware).contains(naive)


def test_impossible_windows_are_refused() -> None:
    start = dt.datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="end after it starts"):
        room_window(start, start, opens_before=QUARTER, closes_after=HOUR)
    with pytest.raises(ValueError, match="negative"):
        room_window(start, start + HOUR, opens_before=-QUARTER, closes_after=HOUR)
    with pytest.raises(ValueError, match="close after it opens"):
        RoomWindow(start, start)


def test_room_settings_have_defaults_and_come_from_the_environment(tmp_path: Path) -> None:
    base = {"CONFERENCE_DATA_DIR": str(tmp_path), "CONFERENCE_SECRET_KEY": "k" * 48}
    defaults = Settings.from_env(base)
    assert (defaults.room_opens_before_minutes, defaults.room_closes_after_minutes) == (15, 60)
    changed = Settings.from_env(
        {**base, "CONFERENCE_ROOM_OPENS_BEFORE_MINUTES": "5", "CONFERENCE_ROOM_CLOSES_AFTER_MINUTES": "90"}
    )
    assert (changed.room_opens_before_minutes, changed.room_closes_after_minutes) == (5, 90)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("ROOM_OPENS_BEFORE_MINUTES", "0", "greater than zero"),
        ("ROOM_OPENS_BEFORE_MINUTES", "a while", "whole number"),
        ("ROOM_CLOSES_AFTER_MINUTES", "-5", "greater than zero"),
    ],
)
def test_bad_room_settings_are_refused(tmp_path: Path, name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError, match=f"CONFERENCE_{name} must be .*{words}"):
        Settings.from_env(
            {"CONFERENCE_DATA_DIR": str(tmp_path), "CONFERENCE_SECRET_KEY": "k" * 48, f"CONFERENCE_{name}": value}
        )
