"""Monthly care time, purely: months in a zone, clipping, overlaps, the threshold and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

import pytest

from conference.caretime.totals import (
    CSV_HEADER,
    MONTH_FORMAT_HELP,
    THRESHOLD_MINUTES,
    Kind,
    Month,
    RoleTime,
    Stay,
    patient_month,
    role_label,
    to_csv,
)

UTC = dt.UTC
NEW_YORK = "America/New_York"
PATIENT, OTHER_PATIENT = uuid.uuid4(), uuid.uuid4()
THERAPIST, PRESCRIBER, CASE_MANAGER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOVEMBER = Month(2026, 11)


def at(day: int, hour: int, minute: float = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=UTC) + dt.timedelta(minutes=minute)


def stay(
    person: uuid.UUID | None,
    start: dt.datetime,
    end: dt.datetime,
    *,
    kind: Kind = "case_review",
    role: str | None = None,
    patient: uuid.UUID = PATIENT,
) -> Stay:
    default = "patient" if person is None else "primary_therapist"
    return Stay(patient, person, role or default, kind, start, end)


# ---- months -------------------------------------------------------------------------------------


def test_a_month_is_read_as_yyyy_mm_and_nothing_else() -> None:
    assert Month.parse("2026-11") == NOVEMBER
    assert Month.parse(" 2026-01 ") == Month(2026, 1)
    for bad in ("2026-13", "2026-00", "2026-1", "26-11", "2026/11", "November", "", "0000-05", "9999-12"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Month.parse(bad)
    assert MONTH_FORMAT_HELP == "Give the month as YYYY-MM, e.g. 2026-11."


def test_months_step_across_years_and_read_as_words() -> None:
    assert str(Month(2026, 1).previous()) == "2025-12"
    assert str(Month(2026, 12).next()) == "2027-01"
    assert NOVEMBER.label == "November 2026"
    assert Month.containing(dt.datetime(2026, 12, 1, 3, tzinfo=UTC), ZoneInfo(NEW_YORK)) == NOVEMBER


def test_a_month_with_a_daylight_saving_change_is_an_hour_shorter_or_longer() -> None:
    zone = ZoneInfo(NEW_YORK)
    march_start, march_end = Month(2026, 3).bounds(zone)  # clocks go forward on 8 March
    assert (march_start, march_end) == (at(1, 5, month=3), at(1, 4, month=4))
    assert march_end - march_start == dt.timedelta(days=31, hours=-1)
    november_start, november_end = NOVEMBER.bounds(zone)  # clocks go back on 1 November
    assert (november_start, november_end) == (at(1, 4), at(1, 5, month=12))
    assert november_end - november_start == dt.timedelta(days=30, hours=1)


# ---- counting -----------------------------------------------------------------------------------


def test_stays_are_clipped_at_both_ends_of_a_month_in_its_own_zone() -> None:
    stays = [
        # Across local midnight into 1 November (04:00Z, still daylight time): 10 minutes in October.
        stay(THERAPIST, at(1, 3, 50), at(1, 4, 20)),
        # Across local midnight into 1 December (05:00Z, standard time again): 10 minutes in November.
        # Using November's first offset for the whole month would end it at 04:00Z and lose these.
        stay(THERAPIST, at(1, 4, 50, month=12), at(1, 5, 10, month=12)),
    ]
    assert patient_month(PATIENT, NOVEMBER, NEW_YORK, stays).care_management_minutes == 20 + 10
    assert patient_month(PATIENT, Month(2026, 10), NEW_YORK, stays).care_management_minutes == 10
    assert patient_month(PATIENT, Month(2026, 12), NEW_YORK, stays).care_management_minutes == 10
    # The same stays counted in UTC: the first falls wholly in November, the second in December.
    assert patient_month(PATIENT, NOVEMBER, "UTC", stays).care_management_minutes == 30
    november = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    assert (november.starts_at, november.ends_at) == (at(1, 4), at(1, 5, month=12))


def test_one_persons_overlapping_stays_count_once_and_go_to_the_stay_that_began_first() -> None:
    stays = [
        stay(THERAPIST, at(10, 15), at(10, 15, 30), kind="joint_session"),
        stay(THERAPIST, at(10, 15, 10), at(10, 15, 20), kind="joint_session"),  # a second tab, inside the first
        stay(THERAPIST, at(10, 15, 25), at(10, 15, 40), kind="case_review"),  # another room, overlapping 5 minutes
    ]
    totals = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    assert totals.clinicians == (
        RoleTime("primary_therapist", "joint_session", 30),
        RoleTime("primary_therapist", "case_review", 10),
    )
    assert totals.care_management_minutes == 40


def test_clinicians_time_adds_up_and_the_patients_own_is_shown_but_never_added() -> None:
    stays = [
        stay(THERAPIST, at(10, 15), at(10, 15, 15), kind="joint_session"),
        stay(PRESCRIBER, at(10, 15), at(10, 15, 15), kind="joint_session", role="prescriber"),
        stay(None, at(10, 15, 2), at(10, 15, 15), kind="joint_session"),
        stay(CASE_MANAGER, at(12, 15), at(12, 15, 7), role="case_manager"),
        stay(PRESCRIBER, at(12, 15), at(12, 15, 7), role="prescriber"),
        stay(THERAPIST, at(12, 16), at(12, 17), patient=OTHER_PATIENT),  # someone else's patient
    ]
    totals = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    assert totals.roles == ["primary_therapist", "prescriber", "case_manager"]  # in care-team order
    assert totals.minutes(role="prescriber") == 15 + 7
    assert totals.minutes(kind="joint_session") == 30 and totals.minutes(kind="case_review") == 14
    assert totals.care_management_minutes == 44
    assert totals.patient_present == {"joint_session": 13} and totals.patient_minutes == 13
    assert totals.reaches_threshold


def test_each_persons_time_is_rounded_down_before_it_is_added() -> None:
    stays = [
        stay(THERAPIST, at(10, 15), at(10, 15, 10.9)),
        stay(PRESCRIBER, at(10, 15), at(10, 15, 10.9), role="prescriber"),
        stay(CASE_MANAGER, at(10, 15), at(10, 15, 0.5), role="case_manager"),  # under a minute: nothing
    ]
    totals = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    assert totals.clinicians == (
        RoleTime("primary_therapist", "case_review", 10),
        RoleTime("prescriber", "case_review", 10),
    )
    assert totals.care_management_minutes == sum(item.minutes for item in totals.clinicians) == 20


@pytest.mark.parametrize(
    ("spent", "reaches", "to_go"),
    [(20, True, 0), (19.99, False, 1), (25, True, 0), (0, False, THRESHOLD_MINUTES)],
)
def test_the_threshold_is_reached_at_exactly_20_minutes(spent: float, reaches: bool, to_go: int) -> None:
    stays = [stay(THERAPIST, at(10, 15), at(10, 15, spent))] if spent else []
    totals = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    assert totals.reaches_threshold is reaches
    assert totals.minutes_to_threshold == to_go


def test_roles_read_as_words() -> None:
    assert role_label("primary_therapist") == "Primary therapist"
    assert role_label("other") == "Other team member"
    assert role_label("psychiatrist") == "Psychiatrist"  # someone who was not on the team when they joined
    assert role_label("clinician") == "Clinician"


# ---- export -------------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_patient_role_and_kind() -> None:
    stays = [
        stay(THERAPIST, at(10, 15), at(10, 15, 25), kind="joint_session"),
        stay(None, at(10, 15), at(10, 15, 20), kind="joint_session"),
        stay(PRESCRIBER, at(12, 15), at(12, 15, 12), role="prescriber"),
    ]
    busy = patient_month(PATIENT, NOVEMBER, NEW_YORK, stays)
    quiet = patient_month(OTHER_PATIENT, NOVEMBER, NEW_YORK, stays)
    rows = list(csv.reader(io.StringIO(to_csv([("Pat Patient", busy), ("=HYPERLINK(1)", quiet)]))))
    assert tuple(rows[0]) == CSV_HEADER
    pid, oid = str(PATIENT), str(OTHER_PATIENT)
    assert rows[1:] == [
        ["2026-11", NEW_YORK, pid, "Pat Patient", "primary_therapist", "joint_session", "25", "yes", "37", "yes"],
        ["2026-11", NEW_YORK, pid, "Pat Patient", "prescriber", "case_review", "12", "yes", "37", "yes"],
        ["2026-11", NEW_YORK, pid, "Pat Patient", "patient", "joint_session", "20", "no", "37", "yes"],
        # Listed although no time was spent; a name a spreadsheet would run as a formula is defused.
        ["2026-11", NEW_YORK, oid, "'=HYPERLINK(1)", "", "", "0", "no", "0", "no"],
    ]
