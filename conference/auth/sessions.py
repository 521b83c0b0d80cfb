"""Who is signed in: server-side sessions with an idle timeout and an absolute lifetime.

The browser holds only a random session id; the data lives in the store (database or Redis).
Staff sessions name a person; patient sessions, opened from a join link, name one patient and
one purpose and nothing more.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Message, ScopeSession
from sqlalchemy.ext.asyncio import AsyncSession

from conference.auth.join_links import JoinClaims, JoinPurpose
from conference.auth.service import active_person
from conference.people.models import Patient, Person
from conference.people.service import Caller
from conference.settings import Settings

SESSION_STORE = "sessions"


class SignInRequired(Exception):
    """No valid session; pages redirect to sign-in, the API answers 401."""

    def __init__(self, message: str = "Please sign in.") -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PatientSession:
    patient_id: uuid.UUID
    purpose: JoinPurpose
    subject_id: str | None


class AnonymousQuietBackend(ServerSideSessionBackend):
    """Stores nothing for a visitor who has no session and was given none.

    Litestar's backend writes a store entry for every response; without this every anonymous
    request (a crawler, a health probe) would create one.
    """

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if isinstance(scope_session, dict) and not scope_session and not connection.cookies.get(self.config.key):
            return
        await super().store_in_message(scope_session, message, connection)


class SessionConfig(ServerSideSessionConfig):
    _backend_class = AnonymousQuietBackend


def client_address(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


async def _rotate(request: Request[Any, Any, Any]) -> None:
    """A new session id at every sign-in, so an id fixed before sign-in is worthless after it."""
    old_id = request.get_session_id()
    if old_id:
        await request.app.stores.get(SESSION_STORE).delete(old_id)
    request.clear_session()


async def start_person_session(request: Request[Any, Any, Any], person: Person, method: str) -> None:
    await _rotate(request)
    now = time.time()
    request.set_session(
        {"kind": "person", "person_id": str(person.id), "method": method, "issued_at": now, "last_seen": now}
    )


async def start_patient_session(request: Request[Any, Any, Any], patient: Patient, claims: JoinClaims) -> None:
    await _rotate(request)
    now = time.time()
    request.set_session(
        {
            "kind": "patient",
            "patient_id": str(patient.id),
            "purpose": claims.purpose.value,
            "subject_id": claims.subject_id,
            "link_expires_at": claims.expires_at.timestamp(),
            "issued_at": now,
            "last_seen": now,
        }
    )


async def end_session(request: Request[Any, Any, Any]) -> None:
    await _rotate(request)


def _live_session(
    request: Request[Any, Any, Any], settings: Settings, kind: str, *, touch: bool = True
) -> dict[str, Any]:
    data = request.session if request.scope.get("session") else {}
    if data.get("kind") != kind:
        raise SignInRequired()
    now = time.time()
    if now - float(data.get("issued_at", 0)) > settings.session_lifetime_hours * 3600:
        request.clear_session()
        raise SignInRequired(f"For your security you were signed out after {settings.session_lifetime_hours} hours.")
    if now - float(data.get("last_seen", 0)) > settings.session_idle_minutes * 60:
        request.clear_session()
        raise SignInRequired(
            f"For your security you were signed out after {settings.session_idle_minutes} minutes without activity."
        )
    if kind == "patient" and now >= float(data.get("link_expires_at", 0)):
        request.clear_session()
        raise SignInRequired("Your link has expired.")
    if touch:
        data["last_seen"] = now
        request.set_session(data)
    return data


async def current_caller(
    request: Request[Any, Any, Any], settings: Settings, db: AsyncSession, *, touch: bool = True
) -> Caller:
    data = _live_session(request, settings, "person", touch=touch)
    person = await active_person(db, uuid.UUID(data["person_id"]))
    if person is None:
        request.clear_session()
        raise SignInRequired("Your account is no longer active.")
    return Caller(person=person, client_address=client_address(request))


def current_patient(request: Request[Any, Any, Any], settings: Settings, *, touch: bool = True) -> PatientSession:
    data = _live_session(request, settings, "patient", touch=touch)
    return PatientSession(
        patient_id=uuid.UUID(data["patient_id"]),
        purpose=JoinPurpose(data["purpose"]),
        subject_id=data.get("subject_id"),
    )


def session_store(request: Request[Any, Any, Any]) -> Store:
    return request.app.stores.get(SESSION_STORE)
