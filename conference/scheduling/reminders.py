"""Reminders 24 hours and 15 minutes before each occurrence.

Each reminder is queued in the outbox under a key naming the meeting, the occurrence, the person and
the kind, so it is queued once whatever the number of service instances or restarts; the outbox then
delivers it once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conference import mail
from conference.db import utcnow
from conference.people.models import Patient, Person
from conference.scheduling import ical
from conference.scheduling.invitations import build_message, join_link, when_text
from conference.scheduling.models import Meeting
from conference.scheduling.service import ACTIVE_STATUSES, active_participants, instances
from conference.settings import Settings

KINDS = (("24h", dt.timedelta(hours=24)), ("15m", dt.timedelta(minutes=15)))


async def queue_due(session: AsyncSession, settings: Settings, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    horizon = now + dt.timedelta(hours=24)
    meetings = await session.scalars(
        select(Meeting).where(
            Meeting.status.in_(ACTIVE_STATUSES), Meeting.starts_at < horizon, Meeting.series_ends_at > now
        )
    )
    queued = 0
    for meeting in meetings:
        patient = await session.get(Patient, meeting.patient_id)
        assert patient is not None
        for occurrence in instances(meeting, now, horizon):
            if occurrence.cancelled or occurrence.start <= now:
                continue
            for kind, ahead in KINDS:
                if not _due(kind, ahead, occurrence.start, now, meeting.updated_at):
                    continue
                for participant in active_participants(meeting):
                    if participant.response == "declined":
                        continue
                    message = await _reminder(
                        session,
                        settings,
                        meeting,
                        patient,
                        participant.person_id,
                        occurrence.start,
                        occurrence.end,
                        kind,
                    )
                    if message is None:
                        continue
                    who = participant.person_id or f"patient:{patient.id}"
                    key = f"reminder:{meeting.id}:{occurrence.recurrence_id.isoformat()}:{who}:{kind}"
                    queued += await mail.enqueue(session, message, dedupe_key=key)
    return queued


def _due(kind: str, ahead: dt.timedelta, start: dt.datetime, now: dt.datetime, changed_at: dt.datetime) -> bool:
    if now < start - ahead:
        return False
    if kind == "24h":
        # Within a quarter hour the 15-minute reminder says it; a meeting booked or changed within the
        # last day was just announced by its invitation.
        return start - now > dt.timedelta(minutes=15) and changed_at < start - ahead
    return True


async def _reminder(
    session: AsyncSession,
    settings: Settings,
    meeting: Meeting,
    patient: Patient,
    person_id: uuid.UUID | None,
    start: dt.datetime,
    end: dt.datetime,
    kind: str,
) -> EmailMessage | None:
    soon = "tomorrow" if kind == "24h" else "in 15 minutes"
    if person_id is None:
        if not patient.email:
            return None
        to, zone = ical.Person(patient.name, patient.email), patient.time_zone
        access = (
            "Join from this link. It opens 30 minutes before the meeting:\n"
            f"{join_link(meeting, patient, settings, start, end)}"
        )
    else:
        person = await session.get(Person, person_id)
        if person is None or not person.active:
            return None
        to, zone = ical.Person(person.name, person.email), person.time_zone
        access = f"Sign in to see the details and join: {settings.public_base_url}/meetings/{meeting.id}"
    when = when_text(start, zone)
    return build_message(
        settings,
        to,
        f"Reminder: {meeting.title}, {when}",
        f"Your {meeting.title.lower()} is {soon}: {when}.\n\n{access}\n",
        None,
        None,
    )


async def remind_once(engine: AsyncEngine, settings: Settings, now: dt.datetime | None = None) -> int:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        return await queue_due(session, settings, now)
