"""JSON API for minutes, under /api/v1; FHIR R4 export of final minutes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from conference.errors import Conflict
from conference.http import CallerDep, DbSession, SettingsDep
from conference.minutes import content, fhir, service
from conference.minutes.models import Minutes
from conference.minutes.schemas import (
    DraftSave,
    FinalizedOut,
    MinutesOut,
    MinutesSummaryOut,
    ProblemOut,
    VersionIn,
)
from conference.minutes.service import SharedMinutes
from conference.rtc.service import parse_occurrence, room_path


def occurrence_text(occurrence_start: dt.datetime) -> str:
    """The occurrence as named in addresses, the same as in its room's: YYYYmmddTHHMMSSZ."""
    return room_path(uuid.UUID(int=0), occurrence_start).rsplit("/", 1)[1]


def summary_out(minutes: Minutes) -> MinutesSummaryOut:
    return MinutesSummaryOut(
        id=minutes.id,
        meeting_id=minutes.meeting_id,
        occurrence=occurrence_text(minutes.occurrence_start),
        occurrence_start=minutes.occurrence_start,
        patient_id=minutes.patient_id,
        status="final" if minutes.is_final else "draft",
        version=minutes.version,
        document_version=minutes.document_version,
        amends_id=minutes.amends_id,
        author_id=minutes.author_id,
        updated_at=minutes.updated_at,
        signed_at=minutes.signed_at,
    )


async def minutes_out(db_session: AsyncSession, shared: SharedMinutes) -> MinutesOut:
    minutes = shared.minutes
    problems = await service.problems_for(db_session, minutes)
    names = await service.names_for(db_session, minutes)
    return MinutesOut(
        id=minutes.id,
        meeting_id=minutes.meeting_id,
        occurrence=occurrence_text(minutes.occurrence_start),
        occurrence_start=minutes.occurrence_start,
        patient_id=minutes.patient_id,
        status="final" if minutes.is_final else "draft",
        version=minutes.version,
        document_version=minutes.document_version,
        amends_id=minutes.amends_id,
        amended_by_id=shared.amended_by_id,
        author_id=minutes.author_id,
        updated_by_id=minutes.updated_by_id,
        created_at=minutes.created_at,
        updated_at=minutes.updated_at,
        signed_by_id=minutes.signed_by_id,
        signed_at=minutes.signed_at,
        content_hash=minutes.content_hash,
        content=minutes.content,
        information_classes=sorted(item.value for item in shared.classes),
        redisclosure_notice=shared.redisclosure_notice,
        problems=[ProblemOut(problem.field, problem.message) for problem in problems],
        people={str(person_id): name for person_id, name in names.items()},
    )


class MeetingMinutesController(Controller):
    path = "/api/v1/meetings/{meeting_id:uuid}"
    tags = ["minutes"]

    @post("/occurrences/{occurrence:str}/minutes", status_code=200)
    async def open_minutes(
        self, db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID], occurrence: FromPath[str]
    ) -> MinutesOut:
        """The occurrence's minutes: the existing ones, or a new draft prefilled from attendance."""
        minutes = await service.open_minutes(db_session, caller, meeting_id, parse_occurrence(occurrence))
        return await minutes_out(db_session, await service.view_of(db_session, minutes))

    @get("/minutes")
    async def list_for_meeting(
        self, db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID]
    ) -> list[MinutesSummaryOut]:
        return [summary_out(row) for row in await service.minutes_for_meeting(db_session, caller, meeting_id)]


class PatientMinutesController(Controller):
    path = "/api/v1/patients/{patient_id:uuid}/minutes"
    tags = ["minutes"]

    @get("/")
    async def list_for_patient(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
    ) -> list[MinutesSummaryOut]:
        return [summary_out(row) for row in await service.minutes_for_patient(db_session, caller, patient_id)]


class MinutesController(Controller):
    path = "/api/v1/minutes/{minutes_id:uuid}"
    tags = ["minutes"]

    @get("/")
    async def get_minutes(
        self, db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]
    ) -> MinutesOut:
        return await minutes_out(db_session, await service.read_minutes(db_session, caller, minutes_id))

    @put("/")
    async def save_draft(
        self, db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID], data: JSONBody[DraftSave]
    ) -> MinutesOut:
        """Autosave. A save based on an older version answers 409 with ``current_version`` and
        ``content``: the server's, to show beside the editor's own."""
        minutes = await service.save_draft(db_session, caller, minutes_id, data.content, data.version)
        return await minutes_out(db_session, await service.view_of(db_session, minutes))

    @post("/finalize", status_code=200)
    async def finalize(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        minutes_id: FromPath[uuid.UUID],
        data: JSONBody[VersionIn],
    ) -> FinalizedOut:
        """Sign. 400 lists every problem (``problems``) when something must be fixed first."""
        result = await service.finalize(db_session, caller, minutes_id, data.version, settings=settings)
        shared = await service.view_of(db_session, result.minutes)
        return FinalizedOut(await minutes_out(db_session, shared), result.revision_id)

    @post("/amend", status_code=201)
    async def amend(self, db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]) -> MinutesOut:
        amendment = await service.amend(db_session, caller, minutes_id)
        return await minutes_out(db_session, await service.view_of(db_session, amendment))

    @get("/fhir", media_type="application/fhir+json")
    async def fhir(
        self, db_session: DbSession, caller: CallerDep, settings: SettingsDep, minutes_id: FromPath[uuid.UUID]
    ) -> Response[dict[str, Any]]:
        shared = await service.read_minutes(db_session, caller, minutes_id)
        if not shared.minutes.is_final:
            raise Conflict("Only final minutes are exported; finalize these first.")
        resource = fhir.composition_resource(
            shared.minutes,
            content.decode(shared.minutes.content),
            base_url=settings.public_base_url,
            people=await service.names_for(db_session, shared.minutes),
            meeting_kind=await service.meeting_kind(db_session, shared.minutes),
        )
        return Response(resource, media_type="application/fhir+json")


route_handlers = [MeetingMinutesController, PatientMinutesController, MinutesController]
