"""Sign-in use cases: passwords, OpenID Connect, patient join links. Every outcome is audited."""

from __future__ import annotations

import uuid

from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.audit.service import Actor
from conference.auth import join_links, rate_limit
from conference.auth.oidc import VerifiedIdentity
from conference.db import utcnow
from conference.errors import Forbidden
from conference.people.models import Patient, Person
from conference.people.passwords import hash_password, needs_rehash, verify_password
from conference.people.service import find_person_by_email

WRONG_CREDENTIALS = "That email and password do not match an active account."


async def sign_in_with_password(
    session: AsyncSession,
    store: Store,
    limits: rate_limit.SignInLimits,
    *,
    email: str,
    password: str,
    client_address: str | None,
) -> Person:
    await rate_limit.check(store, limits, email, client_address)
    person = await find_person_by_email(session, email)
    valid = verify_password(person.password_hash if person else None, password)
    if person is None or not valid or not person.active:
        await rate_limit.record_failure(store, limits, email, client_address)
        await audit.record(
            session,
            Actor(kind="anonymous", id=person.id if person else None, client_address=client_address),
            "sign_in.failed",
            subject="password",
            detail={"reason": "inactive" if person and valid else "credentials"},
        )
        await session.commit()
        raise Forbidden(WRONG_CREDENTIALS)
    await rate_limit.record_success(store, email)
    if person.password_hash and needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
    await _signed_in(session, person, client_address, "password")
    return person


async def sign_in_with_oidc(session: AsyncSession, identity: VerifiedIdentity, client_address: str | None) -> Person:
    """Match by the stored subject first; else by a verified email, and remember the subject."""
    person = await session.scalar(
        select(Person).where(Person.oidc_issuer == identity.issuer, Person.oidc_subject == identity.subject)
    )
    if person is None and identity.email and identity.email_verified:
        person = await find_person_by_email(session, identity.email)
        if person is not None and person.oidc_subject is not None:
            person = None  # already linked to a different identity at the provider
        if person is not None:
            person.oidc_issuer, person.oidc_subject = identity.issuer, identity.subject
    if person is None or not person.active:
        await audit.record(
            session,
            Actor(kind="anonymous", id=person.id if person else None, client_address=client_address),
            "sign_in.failed",
            subject="oidc",
            detail={"reason": "inactive" if person else "no matching account"},
        )
        await session.commit()
        raise Forbidden(
            "Your sign-in worked, but no active account here matches it. Ask your clinic administrator to add "
            "you with the email address your organization uses."
        )
    await _signed_in(session, person, client_address, "oidc")
    return person


async def _signed_in(session: AsyncSession, person: Person, client_address: str | None, method: str) -> None:
    person.last_sign_in_at = utcnow()
    await audit.record(
        session,
        Actor(kind="person", id=person.id, client_address=client_address),
        "sign_in",
        subject=f"person:{person.id}",
        detail={"method": method},
    )


async def signed_out(session: AsyncSession, actor: Actor) -> None:
    await audit.record(session, actor, "sign_out")


async def open_join_link(
    session: AsyncSession, secret_key: str, token: str, client_address: str | None
) -> tuple[Patient, join_links.JoinClaims]:
    """Check a patient's link; a link that fails is audited and answered without saying whose it was."""
    try:
        claims = join_links.verify(secret_key, token)
    except join_links.JoinLinkInvalid as error:
        await audit.record(
            session,
            Actor(kind="anonymous", client_address=client_address),
            "join_link.refused",
            detail={"reason": "expired" if error.expired else "invalid"},
        )
        await session.commit()
        raise
    patient = await session.get(Patient, claims.patient_id)
    if patient is None or not patient.active:
        raise join_links.JoinLinkInvalid("This link is no longer valid.")
    await audit.record(
        session,
        Actor(kind="patient", id=patient.id, client_address=client_address),
        "join_link.opened",
        patient_id=patient.id,
        detail={"purpose": claims.purpose.value, "link": claims.link_id},
    )
    return patient, claims


async def active_person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    person = await session.get(Person, person_id)
    return person if person is not None and person.active else None
