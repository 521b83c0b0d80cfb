"""Monthly care time, purely: which minutes of which stays count toward which patient's month.

Behavioral-health integration care management (CPT 99484, and CoCM in the same spirit) counts the
clinical staff time spent on one patient's care in a calendar month, and 20 minutes is the
threshold. The rules here:

- A month is a calendar month in one time zone, from local midnight on the 1st to local midnight on
  the 1st of the next month, so a month with a daylight-saving change is an hour shorter or longer.
  Stays are clipped to it.
- One person's overlapping stays (two tabs, a rejoin before the old connection dropped, two rooms
  at once) count once: each moment goes to the stay that began first, so the role and the kind of
  meeting it counts under are decided by that stay.
- The care-management total is the sum over clinicians of the time each spent: two clinicians in
  the same 15-minute review make 30 minutes of staff time. The patient's own presence is shown
  beside it and never added: it is not staff time.
- Each person's time per role and kind of meeting is rounded down to whole minutes before anything
  is added, so every total is the sum of the figures shown and never claims time that was not spent.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from conference.people.roles import Role, TeamRole

THRESHOLD_MINUTES = 20
MONTH_FORMAT_HELP = "Give the month as YYYY-MM, e.g. 2026-11."

Kind = Literal["joint_session", "case_review"]
KINDS: tuple[Kind, ...] = ("joint_session", "case_review")
KIND_LABELS: dict[Kind, str] = {"joint_session": "Joint sessions", "case_review": "Case reviews"}

_MONTH = re.compile(r"(\d{4})-(\d{2})")
_ROLE_ORDER = [role.value for role in TeamRole]


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, without a zone: ``bounds`` places it in one."""

    year: int
    month: int

    def __post_init__(self) -> None:
        # The year limits keep both bounds, and their conversion to UTC, within what datetime holds.
        if not (1 <= self.month <= 12 and dt.MINYEAR < self.year < dt.MAXYEAR):
            raise ValueError(MONTH_FORMAT_HELP)

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-11' as a month; anything else raises ValueError with ``MONTH_FORMAT_HELP``."""
        found = _MONTH.fullmatch(text.strip())
        if found is None:
            raise ValueError(MONTH_FORMAT_HELP)
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def containing(cls, moment: dt.datetime, zone: ZoneInfo) -> Month:
        local = moment.astimezone(zone)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{calendar.month_name[self.month]} {self.year}"

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def bounds(self, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
        """Local midnight on the 1st to local midnight on the next 1st, in UTC."""
        following = self.next()
        start = dt.datetime(self.year, self.month, 1, tzinfo=zone)
        end = dt.datetime(following.year, following.month, 1, tzinfo=zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class Stay:
    """One stay in a room about one patient: who (None for the patient), as what, in which kind of meeting."""

    patient_id: uuid.UUID
    person_id: uuid.UUID | None
    role: str  # the care-team role held when joining, or "patient"
    kind: Kind
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class RoleTime:
    """Minutes spent by everyone in one role in one kind of meeting."""

    role: str
    kind: Kind
    minutes: int

    @property
    def role_label(self) -> str:
        return role_label(self.role)


@dataclass(frozen=True)
class PatientMonth:
    """One patient's care time in one month."""

    patient_id: uuid.UUID
    month: Month
    zone: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    clinicians: tuple[RoleTime, ...]  # roles in care-team order, then kinds; only those with time
    patient_present: dict[Kind, int]  # the patient's own minutes, for reference; not counted

    @property
    def care_management_minutes(self) -> int:
        return sum(item.minutes for item in self.clinicians)

    @property
    def reaches_threshold(self) -> bool:
        return self.care_management_minutes >= THRESHOLD_MINUTES

    @property
    def minutes_to_threshold(self) -> int:
        return max(0, THRESHOLD_MINUTES - self.care_management_minutes)

    @property
    def patient_minutes(self) -> int:
        return sum(self.patient_present.values())

    @property
    def roles(self) -> list[str]:
        return list(dict.fromkeys(item.role for item in self.clinicians))

    def minutes(self, *, role: str | None = None, kind: Kind | None = None) -> int:
        """Clinicians' minutes in one role and/or one kind of meeting."""
        return sum(
            item.minutes
            for item in self.clinicians
            if (role is None or item.role == role) and (kind is None or item.kind == kind)
        )


def role_label(role: str) -> str:
    if role == TeamRole.OTHER.value:
        return "Other team member"
    if role in set(TeamRole):
        return TeamRole(role).label
    if role in set(Role):
        return Role(role).label
    return "Clinician"


def _role_sort_key(role: str) -> tuple[int, str]:
    return (_ROLE_ORDER.index(role), "") if role in _ROLE_ORDER else (len(_ROLE_ORDER), role)


def _attributed_seconds(
    stays: Iterable[Stay], start: dt.datetime, end: dt.datetime
) -> dict[tuple[uuid.UUID | None, str, Kind], float]:
    """Seconds per (person, role, kind) within [start, end), each moment of a person counted once."""
    by_person: dict[uuid.UUID | None, list[Stay]] = defaultdict(list)
    for stay in stays:
        by_person[stay.person_id].append(stay)
    seconds: dict[tuple[uuid.UUID | None, str, Kind], float] = defaultdict(float)
    for person_id, own in by_person.items():
        reach = start
        for stay in sorted(own, key=lambda s: (s.start, s.end)):
            begins, ends = max(stay.start, reach), min(stay.end, end)
            if ends > begins:
                seconds[(person_id, stay.role, stay.kind)] += (ends - begins).total_seconds()
            reach = max(reach, ends)
    return seconds


def patient_month(patient_id: uuid.UUID, month: Month, zone: str, stays: Iterable[Stay]) -> PatientMonth:
    """The month's totals from the patient's stays (others' are ignored); ``zone`` is an IANA name."""
    start, end = month.bounds(ZoneInfo(zone))
    seconds = _attributed_seconds((s for s in stays if s.patient_id == patient_id), start, end)
    clinicians: dict[tuple[str, Kind], int] = defaultdict(int)
    patient_present: dict[Kind, int] = {}
    for (person_id, role, kind), spent in seconds.items():
        whole = int(spent // 60)
        if person_id is None:
            patient_present[kind] = patient_present.get(kind, 0) + whole
        elif whole:
            clinicians[(role, kind)] += whole
    ordered = sorted(clinicians.items(), key=lambda item: (_role_sort_key(item[0][0]), KINDS.index(item[0][1])))
    return PatientMonth(
        patient_id=patient_id,
        month=month,
        zone=zone,
        starts_at=start,
        ends_at=end,
        clinicians=tuple(RoleTime(role, kind, minutes) for (role, kind), minutes in ordered),
        patient_present={kind: patient_present[kind] for kind in KINDS if patient_present.get(kind)},
    )


# ---- export -------------------------------------------------------------------------------------

CSV_HEADER = (
    "month",
    "time_zone",
    "patient_id",
    "patient_name",
    "role",
    "meeting_kind",
    "minutes",
    "counted",
    "care_management_minutes",
    "reaches_20_minutes",
)


def _cell(text: str) -> str:
    """Text a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(entries: Sequence[tuple[str, PatientMonth]]) -> str:
    """One row per patient, role and kind of meeting; ``entries`` are (patient name, month).

    The patient's own presence is a row with role ``patient`` and ``counted`` "no". A patient with no
    time at all still gets one row, with empty role and kind, so the export lists everyone asked for.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for name, totals in entries:
        common = (str(totals.month), totals.zone, str(totals.patient_id), _cell(name))
        summary = (str(totals.care_management_minutes), "yes" if totals.reaches_threshold else "no")
        rows: list[tuple[str, str, int, str]] = [
            (item.role, item.kind, item.minutes, "yes") for item in totals.clinicians
        ]
        rows += [("patient", kind, minutes, "no") for kind, minutes in totals.patient_present.items()]
        for role, kind, minutes, counted in rows or [("", "", 0, "no")]:
            writer.writerow((*common, role, kind, str(minutes), counted, *summary))
    return out.getvalue()
