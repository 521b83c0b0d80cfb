"""Invitation, cancellation, reminder and notice emails, queued in the outbox.

iTIP: a multipart message whose text/calendar part has a method matching its METHOD line. Subjects
and bodies carry a generic title, the date and time in the recipient's zone and a link to sign in:
never the patient's name or anything about their health. The patient is never listed as an attendee
in the copies clinicians receive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from conference import mail
from conference.auth import join_links
from conference.people.models import Patient, Person
from conference.scheduling import ical
from conference.scheduling.models import Meeting, MeetingParticipant
from conference.settings import Settings

JOIN_OPENS_BEFORE = dt.timedelta(minutes=30)
JOIN_CLOSES_AFTER = dt.timedelta(hours=1)


def calendar_event(meeting: Meeting, settings: Settings) -> ical.CalendarEvent:
    moved = [row for row in meeting.exceptions if not row.cancelled]
    return ical.CalendarEvent(
        uid=meeting.ical_uid,
        sequence=meeting.sequence,
        last_modified=meeting.updated_at,
        summary=meeting.title,
        url=f"{settings.public_base_url}/meetings/{meeting.id}",
        start=meeting.starts_at,
        end=meeting.ends_at,
        time_zone=meeting.time_zone,
        cancelled=meeting.status == "cancelled",
        rrule=meeting.rrule,
        exdates=tuple(row.recurrence_id for row in meeting.exceptions if row.cancelled),
        overrides=tuple(
            ical.Occurrence(row.recurrence_id, row.starts_at, row.ends_at, False, row.sequence, row.updated_at)
            for row in moved
        ),
        location="Video room (sign in to join)",
    )


def when_text(moment: dt.datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


async def _staff(
    session: AsyncSession, participants: Sequence[MeetingParticipant]
) -> list[tuple[MeetingParticipant, Person]]:
    found = []
    for participant in participants:
        if participant.person_id is not None:
            person = await session.get(Person, participant.person_id)
            if person is not None:
                found.append((participant, person))
    return found


def build_message(
    settings: Settings, to: ical.Person, subject: str, body: str, calendar: bytes | None, method: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((to.name, to.email))
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="case-conference")
    message.set_content(body)
    if calendar is not None and method is not None:
        message.add_alternative(calendar, maintype="text", subtype="calendar", params={"method": method})
    return message


async def _queue(
    session: AsyncSession,
    meeting: Meeting,
    patient: Patient,
    settings: Settings,
    recipients: Sequence[MeetingParticipant],
    *,
    method: Literal["REQUEST", "CANCEL"],
    recurrence_id: dt.datetime | None = None,
) -> None:
    event = calendar_event(meeting, settings)
    organizer = await session.get(Person, meeting.organizer_id)
    assert organizer is not None
    clinicians = await _staff(session, [p for p in meeting.participants if p.removed_at is None])
    attendees = [
        (ical.Person(person.name, person.email), "required" if p.required else "optional") for p, person in clinicians
    ]
    organizer_address = ical.Person(organizer.name, settings.mail_from_address)
    link = f"{settings.public_base_url}/meetings/{meeting.id}"
    when_moment = recurrence_id or meeting.starts_at
    for participant in recipients:
        if participant.is_patient:
            if not patient.email:
                continue
            to, zone = ical.Person(patient.name, patient.email), patient.time_zone
            own_attendees = [*attendees, (to, "required")]
            access = _patient_access(meeting, patient, settings, method)
        else:
            person = await session.get(Person, participant.person_id)
            if person is None:
                continue
            to, zone, own_attendees = ical.Person(person.name, person.email), person.time_zone, attendees
            access = f"Sign in to see the details and join: {link}"
        calendar = ical.render_invitation(
            event,
            method=method,
            organizer=organizer_address,
            attendees=own_attendees,
            recurrence_id=recurrence_id,
        )
        when = when_text(when_moment, zone)
        if method == "CANCEL":
            subject = f"Cancelled: {meeting.title}, {when}"
            body = f"The {meeting.title.lower()} on {when} is cancelled.\n\n{access}\n"
        else:
            subject = f"{'Updated: ' if meeting.sequence else 'Invitation: '}{meeting.title}, {when}"
            repeats = " (repeating; see the calendar entry for every date)" if meeting.rrule else ""
            body = f"You are invited to a {meeting.title.lower()} on {when}{repeats}.\n\n{access}\n"
        await mail.enqueue(session, build_message(settings, to, subject, body, calendar, method))


def _patient_access(meeting: Meeting, patient: Patient, settings: Settings, method: str) -> str:
    if method == "CANCEL" or meeting.kind != "joint_session":
        return "Your care team will send you a new link if the meeting is booked again."
    return (
        "Join from this link. It opens 30 minutes before the meeting:\n"
        f"{join_link(meeting, patient, settings, meeting.starts_at, meeting.ends_at)}"
    )


def join_link(meeting: Meeting, patient: Patient, settings: Settings, start: dt.datetime, end: dt.datetime) -> str:
    """A patient's link to one occurrence of a joint session, usable only around it."""
    token = join_links.issue(
        settings.secret_key,
        patient.id,
        join_links.JoinPurpose.JOINT_SESSION,
        end + JOIN_CLOSES_AFTER,
        subject_id=f"{meeting.id}:{start.isoformat()}",
        not_before=start - JOIN_OPENS_BEFORE,
    )
    return f"{settings.public_base_url}/join/{token}"


async def send_request(session: AsyncSession, meeting: Meeting, patient: Patient, settings: Settings) -> None:
    recipients = [p for p in meeting.participants if p.removed_at is None and p.person_id != meeting.organizer_id]
    await _queue(session, meeting, patient, settings, recipients, method="REQUEST")


async def send_cancel(
    session: AsyncSession,
    meeting: Meeting,
    patient: Patient,
    settings: Settings,
    recipients: Sequence[MeetingParticipant],
    *,
    recurrence_id: dt.datetime | None = None,
) -> None:
    await _queue(
        session,
        meeting,
        patient,
        settings,
        [p for p in recipients if p.person_id != meeting.organizer_id or p.removed_at is not None],
        method="CANCEL",
        recurrence_id=recurrence_id,
    )


async def notify_organizer(session: AsyncSession, meeting: Meeting, settings: Settings) -> None:
    organizer = await session.get(Person, meeting.organizer_id)
    if organizer is None:
        return
    when = when_text(meeting.starts_at, organizer.time_zone)
    message = build_message(
        settings,
        ical.Person(organizer.name, organizer.email),
        f"A meeting you organize needs your attention ({when})",
        f"A {meeting.title.lower()} you organize ({when}) has changed and needs your attention.\n\n"
        f"Sign in to see what changed: {settings.public_base_url}/meetings/{meeting.id}\n",
        None,
        None,
    )
    await mail.enqueue(session, message)
