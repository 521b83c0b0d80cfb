"""JSON API for monthly care time, under /api/v1."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from litestar import get
from litestar.params import FromPath, FromQuery

from conference.caretime import service
from conference.caretime.totals import THRESHOLD_MINUTES, PatientMonth
from conference.http import CallerDep, DbSession


class RoleTimeOut(msgspec.Struct, kw_only=True):
    role: str
    role_label: str
    kind: str
    minutes: int


class PatientPresentOut(msgspec.Struct, kw_only=True):
    kind: str
    minutes: int


class CareTimeOut(msgspec.Struct, kw_only=True):
    patient_id: uuid.UUID
    month: str
    time_zone: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    threshold_minutes: int
    care_management_minutes: int  # the clinicians' minutes added up; the patient's own are not
    reaches_threshold: bool
    clinicians: list[RoleTimeOut]
    patient_present: list[PatientPresentOut]
    patient_present_minutes: int


def care_time_out(totals: PatientMonth) -> CareTimeOut:
    return CareTimeOut(
        patient_id=totals.patient_id,
        month=str(totals.month),
        time_zone=totals.zone,
        starts_at=totals.starts_at,
        ends_at=totals.ends_at,
        threshold_minutes=THRESHOLD_MINUTES,
        care_management_minutes=totals.care_management_minutes,
        reaches_threshold=totals.reaches_threshold,
        clinicians=[
            RoleTimeOut(role=i.role, role_label=i.role_label, kind=i.kind, minutes=i.minutes) for i in totals.clinicians
        ],
        patient_present=[PatientPresentOut(kind=k, minutes=m) for k, m in totals.patient_present.items()],
        patient_present_minutes=totals.patient_minutes,
    )


@get("/api/v1/patients/{patient_id:uuid}/care-time", tags=["care time"])
async def patient_care_time(
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    month: FromQuery[str | None] = None,
    zone: FromQuery[str | None] = None,
) -> CareTimeOut:
    """A patient's care time in a month (``YYYY-MM``, default this month), by care-team role and kind
    of meeting, counted in ``zone`` (default the caller's)."""
    found = await service.for_patient(db_session, caller, patient_id, month, zone=zone)
    return care_time_out(found.totals)


route_handlers = [patient_care_time]
