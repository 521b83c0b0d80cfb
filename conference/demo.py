"""The demo clinic: created idempotently by ``conference demo`` through the ordinary services."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit.service import Actor
from conference.auth import join_links
from conference.consent import service as consent
from conference.consent.policy import ExpiryEvent, Purpose
from conference.consent.schemas import ConsentTerms, InPersonConsent, ProvisionIn
from conference.db import session_scope, utcnow
from conference.demo_plan import ensure_clinical_record
from conference.people import service as people
from conference.people.models import CareTeamMember, Patient, Person
from conference.people.passwords import hash_password
from conference.people.roles import Role, TeamRole
from conference.people.schemas import PatientCreate, PersonCreate, TeamMemberAdd
from conference.scheduling import service as scheduling
from conference.scheduling.feeds import token_hash
from conference.scheduling.models import FeedToken, Meeting
from conference.scheduling.schemas import Kind, MeetingCreate, ParticipantIn
from conference.settings import Settings

DEMO_PATIENT_NAME = "Jordan Rivera"


@dataclass(frozen=True)
class DemoPerson:
    key: str
    name: str
    email: str
    roles: tuple[Role, ...]
    team_role: TeamRole | None
    time_zone: str
    crisis_lead: bool = False


DEMO_PEOPLE = (
    DemoPerson("admin", "Alex Morgan", "admin@demo.clinic", (Role.ADMIN,), None, "America/New_York"),
    DemoPerson(
        "therapist",
        "Dr. Sam Okafor",
        "therapist@demo.clinic",
        (Role.THERAPIST,),
        TeamRole.PRIMARY_THERAPIST,
        "America/New_York",
        crisis_lead=True,
    ),
    DemoPerson(
        "prescriber",
        "Dr. Priya Natarajan",
        "prescriber@demo.clinic",
        (Role.PSYCHIATRIST,),
        TeamRole.PRESCRIBER,
        "America/Chicago",
    ),
    DemoPerson(
        "director",
        "Dr. Helen Brandt",
        "director@demo.clinic",
        (Role.MEDICAL_DIRECTOR, Role.PSYCHIATRIST),
        TeamRole.MEDICAL_DIRECTOR,
        "America/Los_Angeles",
    ),
    DemoPerson(
        "case_manager",
        "Chris Delgado",
        "casemanager@demo.clinic",
        (Role.CASE_MANAGER,),
        TeamRole.CASE_MANAGER,
        "America/New_York",
    ),
)


def _secrets(settings: Settings) -> dict[str, str]:
    """Passwords and feed tokens, random per installation and kept beside the database, so re-running
    the demo prints the same ones."""
    path: Path = settings.data_dir / "demo-passwords.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for person in DEMO_PEOPLE:
        stored.setdefault(person.key, f"demo-{secrets.token_urlsafe(9)}")
        stored.setdefault(f"feed:{person.key}", secrets.token_urlsafe(32))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=2)
    return stored


async def _ensure_person(session: AsyncSession, actor: Actor, demo: DemoPerson, password: str) -> Person:
    person = await people.find_person_by_email(session, demo.email)
    if person is None:
        person = await people.create_person(
            session,
            actor,
            PersonCreate(
                name=demo.name,
                email=demo.email,
                roles=list(demo.roles),
                time_zone=demo.time_zone,
                password=password,
            ),
        )
    else:
        person.password_hash, person.active = hash_password(password), True
    return person


async def _ensure_patient(session: AsyncSession, admin: people.Caller) -> Patient:
    patient = await session.scalar(select(Patient).where(Patient.name == DEMO_PATIENT_NAME))
    if patient is None:
        patient = await people.create_patient(
            session,
            admin,
            PatientCreate(
                name=DEMO_PATIENT_NAME,
                date_of_birth=dt.date(1991, 4, 12),
                email="jordan@demo.example",
                preferred_contact="email",
                time_zone="America/New_York",
            ),
        )
        await session.refresh(patient, ["team"])
    return patient


async def _ensure_team(session: AsyncSession, admin: people.Caller, patient: Patient, staff: dict[str, Person]) -> None:
    on_team = {
        member.person_id
        for member in await session.scalars(select(CareTeamMember).where(CareTeamMember.patient_id == patient.id))
    }
    for demo in DEMO_PEOPLE:
        if demo.team_role is None or staff[demo.key].id in on_team:
            continue
        await people.add_team_member(
            session,
            admin,
            patient.id,
            TeamMemberAdd(person_id=staff[demo.key].id, team_role=demo.team_role, is_crisis_lead=demo.crisis_lead),
        )


async def _ensure_consent(session: AsyncSession, therapist: people.Caller, patient: Patient) -> None:
    """An in-person consent covering the whole team for meetings and minutes, unless one is in force."""
    await session.refresh(patient, ["team"])
    context = await consent.load(session, patient)
    if any(consent.status(existing, utcnow(), context.events) == "active" for existing in context.consents):
        return
    terms = ConsentTerms(
        provisions=[
            ProvisionIn(
                purposes=[Purpose.JOINT_SESSION, Purpose.CASE_REVIEW, Purpose.SHARE_MINUTES],
                person_ids=[member.person_id for member in patient.team],
                classes=["general", "medication"],
            )
        ],
        ends_on=utcnow().date() + dt.timedelta(days=365),
        expires_on=ExpiryEvent.END_OF_TREATMENT,
    )
    await consent.record_in_person(
        session,
        therapist,
        patient.id,
        InPersonConsent(terms=terms, signer_name=patient.name, signed_on=utcnow().date(), attest=True),
    )


async def _ensure_feed(session: AsyncSession, person: Person, token: str) -> None:
    if await session.scalar(select(FeedToken).where(FeedToken.token_sha256 == token_hash(token))) is None:
        session.add(FeedToken(person_id=person.id, token_sha256=token_hash(token)))
        await session.flush()


async def _ensure_meetings(
    session: AsyncSession, therapist: people.Caller, patient: Patient, staff: dict[str, Person], settings: Settings
) -> None:
    """A joint session and a weekly case review in the coming days, unless some are already booked."""
    upcoming = await session.scalar(
        select(Meeting.id).where(Meeting.patient_id == patient.id, Meeting.series_ends_at > utcnow()).limit(1)
    )
    if upcoming is not None:
        return
    zone = ZoneInfo(therapist.person.time_zone)
    day = utcnow().astimezone(zone).date() + dt.timedelta(days=2)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    joint = dt.datetime.combine(day, dt.time(11), zone)
    review_day = day + dt.timedelta(days=1)
    while review_day.weekday() >= 5:
        review_day += dt.timedelta(days=1)
    review = dt.datetime.combine(review_day, dt.time(13), zone)
    plans: list[tuple[Kind, dt.datetime, tuple[str, ...], str | None]] = [
        ("joint_session", joint, ("prescriber", "case_manager"), None),
        ("case_review", review, ("prescriber", "director", "case_manager"), "FREQ=WEEKLY;COUNT=8"),
    ]
    for kind, start, who, rule in plans:
        await scheduling.create(
            session,
            therapist,
            MeetingCreate(
                kind=kind,
                patient_id=patient.id,
                start=start,
                duration_minutes=45,
                participants=[ParticipantIn(staff[key].id) for key in who],
                rrule=rule,
                override_reason="Demo clinic",
            ),
            settings,
        )


async def _ensure_meeting_now(
    session: AsyncSession, therapist: people.Caller, patient: Patient, staff: dict[str, Person], settings: Settings
) -> dict[str, str]:
    """A joint session running now (reused while it runs), so the video room can be tried at once."""
    from conference.rtc.service import room_path
    from conference.scheduling.invitations import join_link

    now = utcnow()
    running = await session.scalar(
        select(Meeting).where(
            Meeting.patient_id == patient.id,
            Meeting.kind == "joint_session",
            Meeting.rrule.is_(None),
            Meeting.starts_at <= now + dt.timedelta(minutes=5),
            Meeting.ends_at > now + dt.timedelta(minutes=20),
            Meeting.status != "cancelled",
        )
    )
    if running is None:
        running = await scheduling.create(
            session,
            therapist,
            MeetingCreate(
                kind="joint_session",
                patient_id=patient.id,
                # Bookings must start in the future; the room is open well before the start anyway.
                start=now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1),
                duration_minutes=50,
                participants=[ParticipantIn(staff[key].id) for key in ("prescriber", "case_manager")],
                override_reason="Demo clinic: a session to try the video room",
            ),
            settings,
        )
    path = room_path(running.id, running.starts_at)
    return {
        "room_url": f"{settings.public_base_url}{path}",
        "patient_join_link": join_link(running, patient, settings, running.starts_at, running.ends_at),
    }


async def create_demo(settings: Settings, *, meeting_now: bool = False) -> dict[str, Any]:
    passwords = _secrets(settings)
    async with session_scope(settings) as session:
        system = Actor.system()
        staff = {demo.key: await _ensure_person(session, system, demo, passwords[demo.key]) for demo in DEMO_PEOPLE}
        admin = people.Caller(person=staff["admin"])
        patient = await _ensure_patient(session, admin)
        await _ensure_team(session, admin, patient, staff)
        therapist = people.Caller(person=staff["therapist"])
        await _ensure_consent(session, therapist, patient)
        await _ensure_meetings(session, therapist, patient, staff, settings)
        record = await ensure_clinical_record(session, staff, patient, settings)
        now_meeting = await _ensure_meeting_now(session, therapist, patient, staff, settings) if meeting_now else None
        for demo in DEMO_PEOPLE:
            await _ensure_feed(session, staff[demo.key], passwords[f"feed:{demo.key}"])
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=settings.join_link_hours)
        token = join_links.issue(settings.secret_key, patient.id, join_links.JoinPurpose.CONSENT, expires)
    return {
        "base_url": settings.public_base_url,
        "sign_in_url": f"{settings.public_base_url}/sign-in",
        "people": [
            {
                **{k: v for k, v in asdict(demo).items() if k in ("name", "email", "time_zone")},
                "roles": [role.value for role in demo.roles],
                "team_role": demo.team_role.value if demo.team_role else None,
                "password": passwords[demo.key],
                "feed_url": f"{settings.public_base_url}/calendar/{passwords[f'feed:{demo.key}']}.ics",
            }
            for demo in DEMO_PEOPLE
        ],
        "patient": {
            "name": DEMO_PATIENT_NAME,
            "id": str(patient.id),
            "join_link": f"{settings.public_base_url}/join/{token}",
            "join_link_expires_at": expires.isoformat(timespec="seconds"),
        },
        "record": record,
        **({"meeting_now": now_meeting} if now_meeting else {}),
    }


def describe(demo: dict[str, Any]) -> str:
    lines = [f"Demo clinic ready. Sign in at {demo['sign_in_url']}", ""]
    width = max(len(person["email"]) for person in demo["people"])
    for person in demo["people"]:
        role = ", ".join(person["roles"]).replace("_", " ")
        lines.append(f"  {person['email']:<{width}}  password {person['password']}   ({person['name']}, {role})")
    lines += ["", "Calendar feeds (subscribe in a calendar app):"]
    lines += [f"  {person['email']:<{width}}  {person['feed_url']}" for person in demo["people"]]
    lines += [
        "",
        f"Demo patient: {demo['patient']['name']}",
        f"Patient's join link (valid until {demo['patient']['join_link_expires_at']}):",
        f"  {demo['patient']['join_link']}",
    ]
    record = demo["record"]
    lines += ["", "Treatment plan (two versions):", f"  {record['plan_url']}"]
    if "minutes_url" in record:
        lines += ["Last week's case review, signed minutes:", f"  {record['minutes_url']}"]
    if "pending_revision_url" in record:
        lines += [
            "The revision they proposed, waiting for the medical director:",
            f"  {record['pending_revision_url']}",
        ]
    if "meeting_now" in demo:
        lines += [
            "",
            "A joint session is running now. Clinicians on it (therapist, prescriber, case manager) join at:",
            f"  {demo['meeting_now']['room_url']}",
            "The patient joins from:",
            f"  {demo['meeting_now']['patient_join_link']}",
        ]
    return "\n".join(lines)
