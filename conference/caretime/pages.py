"""Care-time pages and CSV exports: one patient's month, and the month of all my patients."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from conference.caretime import service
from conference.caretime.totals import KIND_LABELS, KINDS, THRESHOLD_MINUTES, Month, role_label, to_csv
from conference.http import CallerDep, DbSession


def _address(path: str, month: Month, zone: str | None) -> str:
    # A zone given explicitly is carried on; otherwise every link keeps meaning the viewer's own.
    return f"{path}?{urlencode({'month': str(month), **({'zone': zone} if zone else {})})}"


def _csv(body: str, filename: str) -> Response[bytes]:
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _month_context(path: str, month: Month, zone: str | None) -> dict[str, Any]:
    return {
        "kinds": KINDS,
        "kind_labels": KIND_LABELS,
        "threshold": THRESHOLD_MINUTES,
        "role_label": role_label,
        "previous_url": _address(path, month.previous(), zone),
        "next_url": _address(path, month.next(), zone),
        "csv_url": _address(f"{path}.csv", month, zone),
        "zone_given": zone,
    }


@get("/patients/{patient_id:uuid}/care-time")
async def patient_care_time(
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    month: FromQuery[str | None] = None,
    zone: FromQuery[str | None] = None,
) -> Template:
    found = await service.for_patient(db_session, caller, patient_id, month, zone=zone)
    path = f"/patients/{patient_id}/care-time"
    return Template(
        template_name="caretime/patient.html.j2",
        context={
            "caller": caller,
            "patient": found.patient,
            "totals": found.totals,
            **_month_context(path, found.totals.month, zone),
        },
    )


@get("/patients/{patient_id:uuid}/care-time.csv")
async def patient_care_time_csv(
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    month: FromQuery[str | None] = None,
    zone: FromQuery[str | None] = None,
) -> Response[bytes]:
    found = await service.for_patient(db_session, caller, patient_id, month, zone=zone, exported=True)
    body = to_csv([(found.patient.name, found.totals)])
    # The id names the patient without saying anything about them.
    return _csv(body, f"care-time-{found.totals.month}-{found.patient.id}.csv")


@get("/care-time")
async def clinic_care_time(
    db_session: DbSession,
    caller: CallerDep,
    month: FromQuery[str | None] = None,
    zone: FromQuery[str | None] = None,
) -> Template:
    found = await service.for_clinic(db_session, caller, month, zone=zone)
    return Template(
        template_name="caretime/clinic.html.j2",
        context={"caller": caller, "found": found, **_month_context("/care-time", found.month, zone)},
    )


@get("/care-time.csv")
async def clinic_care_time_csv(
    db_session: DbSession,
    caller: CallerDep,
    month: FromQuery[str | None] = None,
    zone: FromQuery[str | None] = None,
) -> Response[bytes]:
    found = await service.for_clinic(db_session, caller, month, zone=zone, exported=True)
    body = to_csv([(entry.patient.name, entry.totals) for entry in found.patients])
    return _csv(body, f"care-time-{found.month}.csv")


route_handlers = [patient_care_time, patient_care_time_csv, clinic_care_time, clinic_care_time_csv]
