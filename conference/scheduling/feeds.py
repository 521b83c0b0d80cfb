"""Personal calendar feeds: secret addresses (stored only as hashes) and what a feed contains."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.audit.service import Actor
from conference.db import utcnow
from conference.people.models import Person
from conference.people.service import Caller
from conference.scheduling import ical
from conference.scheduling.invitations import calendar_event
from conference.scheduling.models import FeedToken
from conference.scheduling.service import meetings_of
from conference.settings import Settings

PAST = dt.timedelta(days=30)
FUTURE = dt.timedelta(days=366)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def current_token(session: AsyncSession, person_id: uuid.UUID) -> FeedToken | None:
    token: FeedToken | None = await session.scalar(
        select(FeedToken).where(FeedToken.person_id == person_id, FeedToken.revoked_at.is_(None))
    )
    return token


async def rotate(session: AsyncSession, caller: Caller) -> str:
    """A new secret address; the old one stops working at once. The token is shown only now."""
    await revoke(session, caller, audit_it=False)
    token = secrets.token_urlsafe(32)  # 256 bits
    session.add(FeedToken(person_id=caller.person.id, token_sha256=token_hash(token)))
    await session.flush()
    await audit.record(session, caller.actor, "calendar.feed_rotate", subject=f"person:{caller.person.id}")
    return token


async def revoke(session: AsyncSession, caller: Caller, *, audit_it: bool = True) -> bool:
    existing = await current_token(session, caller.person.id)
    if existing is None:
        return False
    existing.revoked_at = utcnow()
    await session.flush()
    if audit_it:
        await audit.record(session, caller.actor, "calendar.feed_revoke", subject=f"person:{caller.person.id}")
    return True


async def person_for_token(session: AsyncSession, token: str) -> Person | None:
    row = await session.scalar(
        select(FeedToken).where(FeedToken.token_sha256 == token_hash(token), FeedToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    person = await session.get(Person, row.person_id)
    return person if person is not None and person.active else None


async def feed_for(session: AsyncSession, person: Person, settings: Settings, client_address: str | None) -> bytes:
    """The person's meetings from 30 days back to a year ahead, cancelled ones included (so
    calendar clients remove them). Generic titles only; no attendees, no join links."""
    now = utcnow()
    meetings = await meetings_of(session, person.id, now - PAST, now + FUTURE, include_cancelled=True)
    events = [calendar_event(meeting, settings) for meeting in meetings]
    await audit.record(
        session,
        Actor(kind="person", id=person.id, client_address=client_address),
        "calendar.feed_read",
        subject=f"person:{person.id}",
        detail={"events": len(events)},
    )
    return render_cached(tuple(events))


@functools.lru_cache(maxsize=512)
def render_cached(events: tuple[ical.CalendarEvent, ...]) -> bytes:
    # Rendering dominates a feed request (clients poll often and mostly find nothing new), and the
    # same events always give the same bytes: keep recent results, keyed by the events themselves.
    return ical.render_feed(events, calendar_name="Case conferences")
