"""Working hours, time off and external calendars: what makes a person busy besides meetings here."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conference.audit import service as audit
from conference.db import utcnow
from conference.errors import InvalidInput
from conference.people.models import Person
from conference.people.service import Caller
from conference.scheduling import external
from conference.scheduling.models import ExternalCalendar, TimeOff, WorkingHours
from conference.scheduling.schemas import AvailabilityIn, TimeOffIn
from conference.scheduling.service import DEFAULT_HOURS, working_hours
from conference.settings import Settings

IMPORT_PAST = dt.timedelta(days=7)
IMPORT_FUTURE = dt.timedelta(days=366)
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


async def set_working_hours(session: AsyncSession, caller: Caller, data: AvailabilityIn) -> None:
    blocks = sorted(data.working_hours, key=lambda block: (block.weekday, block.start))
    for index, block in enumerate(blocks):
        if block.end <= block.start:
            raise InvalidInput("working_hours", f"On {WEEKDAYS[block.weekday]} the end must be after the start.")
        if index and blocks[index - 1].weekday == block.weekday and blocks[index - 1].end > block.start:
            raise InvalidInput("working_hours", f"The blocks on {WEEKDAYS[block.weekday]} overlap.")
    await session.execute(delete(WorkingHours).where(WorkingHours.person_id == caller.person.id))
    session.add_all(
        WorkingHours(person_id=caller.person.id, weekday=b.weekday, start_time=b.start, end_time=b.end) for b in blocks
    )
    await session.flush()
    await audit.record(session, caller.actor, "availability.working_hours", detail={"blocks": len(blocks)})


async def add_time_off(session: AsyncSession, caller: Caller, data: TimeOffIn) -> None:
    if data.start.tzinfo is None or data.end.tzinfo is None:
        raise InvalidInput("start", "Give times with their time zone offset.")
    if data.end <= data.start:
        raise InvalidInput("end", "Time off must end after it starts.")
    if data.end - data.start > dt.timedelta(days=366):
        raise InvalidInput("end", "Time off can be at most a year at a time.")
    session.add(TimeOff(person_id=caller.person.id, starts_at=data.start, ends_at=data.end))
    await session.flush()
    await audit.record(session, caller.actor, "availability.time_off")


async def connect_external(session: AsyncSession, caller: Caller, url: str, settings: Settings) -> ExternalCalendar:
    """Store the address and import it now, so a mistake shows at once; a failure is kept as a status."""
    try:
        normalised = external.normalise_feed_url(url)
    except external.ExternalCalendarError as error:
        raise InvalidInput("url", str(error)) from None
    calendar = await session.scalar(select(ExternalCalendar).where(ExternalCalendar.person_id == caller.person.id))
    if calendar is None:
        calendar = ExternalCalendar(person_id=caller.person.id, url=normalised, busy=[])
        session.add(calendar)
    calendar.url, calendar.status, calendar.status_message = normalised, "pending", None
    await session.flush()
    await refresh(session, calendar, settings, caller.person.time_zone)
    if calendar.status == "error":
        # Refused outright, so nothing half-connected is kept; later failures of a calendar that once
        # worked are kept as a status instead, with its last good busy times.
        raise InvalidInput("url", calendar.status_message or "That calendar could not be read.")
    await audit.record(session, caller.actor, "availability.external_connect", detail={"status": calendar.status})
    return calendar


async def disconnect_external(session: AsyncSession, caller: Caller) -> None:
    await session.execute(delete(ExternalCalendar).where(ExternalCalendar.person_id == caller.person.id))
    await audit.record(session, caller.actor, "availability.external_disconnect")


async def refresh(session: AsyncSession, calendar: ExternalCalendar, settings: Settings, zone: str) -> None:
    """Fetch and import; on failure keep the last good busy times and say what went wrong."""
    now = utcnow()
    calendar.last_attempt_at = now
    try:
        data = await external.fetch_ics(calendar.url, allow_private_hosts=settings.allow_private_calendar_hosts)
        busy = await asyncio.to_thread(
            external.busy_from_ics, data, now - IMPORT_PAST, now + IMPORT_FUTURE, default_zone=zone
        )
    except external.ExternalCalendarError as error:
        calendar.status, calendar.status_message = "error", str(error)
    else:
        calendar.busy = [[interval.start.isoformat(), interval.end.isoformat()] for interval in busy]
        calendar.status, calendar.status_message, calendar.last_success_at = "ok", None, now
    await session.flush()


async def refresh_due(engine: AsyncEngine, settings: Settings) -> int:
    """Refresh every external calendar not refreshed recently, one transaction each."""
    factory = async_sessionmaker(engine, expire_on_commit=False)
    cutoff = utcnow() - dt.timedelta(minutes=settings.external_calendar_refresh_minutes)
    async with factory() as session:
        due = list(
            await session.scalars(
                select(ExternalCalendar.id).where(
                    (ExternalCalendar.last_attempt_at.is_(None)) | (ExternalCalendar.last_attempt_at < cutoff)
                )
            )
        )
    for calendar_id in due:
        async with factory() as session, session.begin():
            calendar = await session.get(ExternalCalendar, calendar_id, with_for_update={"skip_locked": True})
            if calendar is None or (calendar.last_attempt_at and calendar.last_attempt_at >= cutoff):
                continue
            person = await session.get(Person, calendar.person_id)
            await refresh(session, calendar, settings, person.time_zone if person else "UTC")
    return len(due)


async def describe(session: AsyncSession, person: Person) -> dict[str, Any]:
    hours = await working_hours(session, person.id)
    calendar = await session.scalar(select(ExternalCalendar).where(ExternalCalendar.person_id == person.id))
    time_off = list(
        await session.scalars(
            select(TimeOff)
            .where(TimeOff.person_id == person.id, TimeOff.ends_at > utcnow())
            .order_by(TimeOff.starts_at)
        )
    )
    zone = ZoneInfo(person.time_zone)
    return {
        "time_zone": person.time_zone,
        "working_hours": [
            {
                "weekday": block.weekday,
                "day": WEEKDAYS[block.weekday],
                "start": block.start.isoformat("minutes"),
                "end": block.end.isoformat("minutes"),
            }
            for block in hours
        ],
        "default_hours": hours == DEFAULT_HOURS,
        "time_off": [
            {"start": row.starts_at.astimezone(zone).isoformat(), "end": row.ends_at.astimezone(zone).isoformat()}
            for row in time_off
        ],
        "external_calendar": None
        if calendar is None
        else {
            "status": calendar.status,
            "message": calendar.status_message,
            "last_success_at": calendar.last_success_at.isoformat() if calendar.last_success_at else None,
            "busy_intervals": len(calendar.busy),
        },
    }
