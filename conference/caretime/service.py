"""Monthly care time: one patient's month, or the month of every patient the caller cares for.

Care time is part of the patient's clinical record, so it is shown only to clinicians on the
patient's care team (``people.patient_for_clinician``, which audits the look and any refusal). It is
not disclosed outside the care team, so the consent policy has nothing to decide here; the rooms
the time was spent in asked it at every admission. Every read and every export is audited.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.caretime.totals import MONTH_FORMAT_HELP, Month, PatientMonth, Stay, patient_month
from conference.db import utcnow
from conference.errors import Forbidden, InvalidInput
from conference.people import service as people
from conference.people.models import Patient
from conference.people.service import Caller, valid_time_zone
from conference.rtc import service as rooms

CLINICIANS_ONLY = "Care time is shown to clinicians, for the patients whose care team they are on."


@dataclass(frozen=True)
class PatientCareTime:
    patient: Patient
    totals: PatientMonth


@dataclass(frozen=True)
class ClinicMonth:
    """Every patient the caller cares for, in one month (in the caller's order: by name)."""

    month: Month
    zone: str
    patients: list[PatientCareTime]

    @property
    def reaching_threshold(self) -> int:
        return sum(1 for entry in self.patients if entry.totals.reaches_threshold)


def resolve_month(text: str | None, zone: str) -> Month:
    """The month asked for, or the current month in ``zone`` when none was given."""
    if text is None or not text.strip():
        return Month.containing(utcnow(), ZoneInfo(zone))
    try:
        return Month.parse(text)
    except ValueError:
        raise InvalidInput("month", MONTH_FORMAT_HELP) from None


def _zone(caller: Caller, zone: str | None) -> str:
    # The viewer's zone by default: the month a clinician means is the one on their own calendar.
    return valid_time_zone(zone, "zone") if zone else caller.person.time_zone


async def _stays(session: AsyncSession, month: Month, zone: str, patient_ids: Iterable[uuid.UUID]) -> list[Stay]:
    start, end = month.bounds(ZoneInfo(zone))
    return [
        Stay(
            patient_id=row.patient_id,
            person_id=row.person_id,
            role=row.role,
            kind=kind,
            start=row.joined_at,
            # A stay still open (the room is live, or the service stopped) counts until last seen.
            end=row.left_at or row.last_seen_at,
        )
        for row, kind in await rooms.stays_between(session, start, end, patient_ids=list(patient_ids))
    ]


async def _record_read(
    session: AsyncSession, caller: Caller, totals: PatientMonth, *, view: str, exported: bool
) -> None:
    await audit.record(
        session,
        caller.actor,
        "care_time.export" if exported else "care_time.read",
        patient_id=totals.patient_id,
        subject=f"patient:{totals.patient_id}",
        detail={"month": str(totals.month), "zone": totals.zone, "view": view},
    )


async def for_patient(
    session: AsyncSession,
    caller: Caller,
    patient_id: uuid.UUID,
    month: str | None = None,
    *,
    zone: str | None = None,
    exported: bool = False,
) -> PatientCareTime:
    """One patient's care time in a month (``YYYY-MM``; default this month), for their care team.

    Raises NotFound for anyone else (audited), InvalidInput for a malformed month or zone.
    """
    chosen_zone = _zone(caller, zone)
    chosen = resolve_month(month, chosen_zone)
    patient = await people.patient_for_clinician(session, caller, patient_id)
    totals = patient_month(patient.id, chosen, chosen_zone, await _stays(session, chosen, chosen_zone, [patient.id]))
    await _record_read(session, caller, totals, view="patient", exported=exported)
    return PatientCareTime(patient, totals)


async def for_clinic(
    session: AsyncSession,
    caller: Caller,
    month: str | None = None,
    *,
    zone: str | None = None,
    exported: bool = False,
) -> ClinicMonth:
    """Care time in a month for every patient whose care team the caller is on.

    Each patient shown gets an audit event of its own, so a patient's trail shows every look.
    """
    if not caller.is_clinician:
        await audit.record(session, caller.actor, "care_time.read.denied", subject="patients")
        # Committed now, because the error that follows rolls the request's transaction back.
        await session.commit()
        raise Forbidden(CLINICIANS_ONLY)
    chosen_zone = _zone(caller, zone)
    chosen = resolve_month(month, chosen_zone)
    patients = await people.patients_for(session, caller)
    by_patient: dict[uuid.UUID, list[Stay]] = defaultdict(list)
    for stay in await _stays(session, chosen, chosen_zone, [patient.id for patient in patients]):
        by_patient[stay.patient_id].append(stay)
    entries = []
    for patient in patients:
        totals = patient_month(patient.id, chosen, chosen_zone, by_patient[patient.id])
        await _record_read(session, caller, totals, view="clinic", exported=exported)
        entries.append(PatientCareTime(patient, totals))
    return ClinicMonth(chosen, chosen_zone, entries)
