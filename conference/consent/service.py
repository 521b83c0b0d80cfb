"""Consent use cases, and the one place other capabilities ask whether something is permitted.

``check`` and ``require`` load what the policy needs, ask it, and audit the question. When a consent
stops applying (revoked, ended, or its expiry event happened), ``revoke`` and ``process_lapsed``
work out who lost coverage for what and hand that to the registered listeners (scheduling removes
them from upcoming meetings, rooms refuse them), auditing what was done.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit import service as audit
from conference.audit.service import Actor
from conference.consent import policy
from conference.consent.models import Consent, ConsentProvision, ConsentRevocation
from conference.consent.policy import (
    Action,
    ConsentFacts,
    Decision,
    ExpiryEvent,
    InformationClass,
    Member,
    Provision,
    ProvisionType,
    Purpose,
)
from conference.consent.schemas import ConsentTerms, InPersonConsent, PatientSignature, ProvisionIn, RevocationIn
from conference.consent.wording import FORM_VERSION, FormChoices, Recipient, consent_text, text_sha256
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound
from conference.people import service as people
from conference.people.models import CareTeamMember, Patient, Person
from conference.people.roles import TeamRole
from conference.people.service import Caller
from conference.settings import Settings

CLINIC_NAME = "this clinic"
CONSENT_NOT_FOUND = "No such consent, or you may not see it."


class ConsentMissing(Forbidden):
    """The policy said no; ``decision`` says who is missing what, ``fix_url`` where to fix it."""

    def __init__(self, decision: Decision, fix_url: str) -> None:
        super().__init__(
            decision.message,
            extra={
                "gaps": [
                    {"person_id": str(gap.person_id), "purpose": gap.purpose.value, "message": gap.message}
                    for gap in decision.gaps
                ],
                "fix_url": fix_url,
            },
        )
        self.decision = decision
        self.fix_url = fix_url


# ---- what the policy needs ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatientConsents:
    patient: Patient
    consents: list[Consent]
    members: dict[uuid.UUID, Member]
    events: dict[ExpiryEvent, dt.datetime]

    @property
    def names(self) -> dict[uuid.UUID, str]:
        return {person_id: member.name for person_id, member in self.members.items()}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.patient.time_zone)

    def facts(self) -> list[ConsentFacts]:
        return [consent_facts(consent) for consent in self.consents]

    def member(self, person: Person) -> Member:
        return self.members.get(person.id) or Member(person.id, person.name, None)

    def decide(self, action: Action, at: dt.datetime) -> Decision:
        return policy.decide(action, self.facts(), at, events=self.events, names=self.names, zone=self.zone)


def consent_facts(consent: Consent) -> ConsentFacts:
    return ConsentFacts(
        id=consent.id,
        signed_at=consent.signed_at,
        starts_at=consent.starts_at,
        ends_at=consent.ends_at,
        expires_on=ExpiryEvent(consent.expires_on) if consent.expires_on else None,
        revoked_at=consent.revocation.revoked_at if consent.revocation else None,
        provisions=tuple(
            Provision(
                type=ProvisionType(row.type),
                purposes=frozenset(Purpose(value) for value in row.purposes),
                person_ids=frozenset(uuid.UUID(value) for value in row.person_ids),
                team_roles=frozenset(row.team_roles),
                classes=frozenset(InformationClass(value) for value in row.classes),
            )
            for row in consent.provisions
        ),
    )


async def load(session: AsyncSession, patient: Patient) -> PatientConsents:
    consents = list(
        await session.scalars(select(Consent).where(Consent.patient_id == patient.id).order_by(Consent.signed_at))
    )
    members = {
        member.person_id: Member(member.person_id, member.person.name, member.team_role)
        for member in patient.team
        if member.person.active
    }
    events = {ExpiryEvent.END_OF_TREATMENT: patient.treatment_ended_at} if patient.treatment_ended_at else {}
    return PatientConsents(patient, consents, members, events)


def status(consent: Consent, at: dt.datetime, events: dict[ExpiryEvent, dt.datetime]) -> str:
    facts = consent_facts(consent)
    if consent.revocation is not None and consent.revocation.revoked_at <= at:
        return "revoked"
    if facts.effective_at(at, events):
        return "active"
    return "not_yet_active" if at < facts.starts_at else "expired"


# ---- asking the policy --------------------------------------------------------------------------


async def check(
    session: AsyncSession, actor: Actor, patient: Patient, action: Action, at: dt.datetime | None = None
) -> Decision:
    """The policy's answer for this patient now (or at ``at``); the question is audited either way."""
    context = await load(session, patient)
    decision = context.decide(action, at or utcnow())
    await audit.record(
        session,
        actor,
        "consent.check",
        patient_id=patient.id,
        subject=f"patient:{patient.id}",
        detail={"action": type(action).__name__, "permitted": decision.permitted, "gaps": len(decision.gaps)},
    )
    return decision


async def require(
    session: AsyncSession, actor: Actor, patient: Patient, action: Action, at: dt.datetime | None = None
) -> Decision:
    decision = await check(session, actor, patient, action, at)
    if not decision.permitted:
        raise ConsentMissing(decision, fix_url=f"/patients/{patient.id}/consent")
    return decision


async def members_for(
    session: AsyncSession, context: PatientConsents, person_ids: Iterable[uuid.UUID]
) -> tuple[Member, ...]:
    """The people a question is about; someone not on the care team is named but holds no team role."""
    members = []
    for person_id in person_ids:
        member = context.members.get(person_id)
        if member is None:
            person = await session.get(Person, person_id)
            member = Member(person_id, person.name if person else "Someone not on record", None)
        members.append(member)
    return tuple(members)


# ---- signing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidTerms:
    provisions: list[Provision]
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    expires_on: ExpiryEvent | None
    choices: FormChoices

    @property
    def text(self) -> str:
        return consent_text(self.choices)


def _day_start(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def validate_terms(terms: ConsentTerms, patient: Patient, now: dt.datetime) -> ValidTerms:
    """Refuse terms that could not be honoured, naming the problem."""
    zone = ZoneInfo(patient.time_zone)
    team = {member.person_id: member for member in patient.team if member.person.active}
    if not terms.provisions or not any(p.type == "permit" for p in terms.provisions):
        raise InvalidInput("provisions", "A consent must permit something: choose who may take part, and for what.")
    provisions = [_valid_provision(index, provision, team) for index, provision in enumerate(terms.provisions)]
    today = now.astimezone(zone).date()
    starts_on = terms.starts_on or today
    if terms.ends_on is not None and terms.ends_on <= starts_on:
        raise InvalidInput("ends_on", "The consent must end after the day it starts.")
    if terms.ends_on is not None and terms.ends_on <= today:
        raise InvalidInput("ends_on", "The end date has already passed; choose a later one.")
    starts_at = max(_day_start(starts_on, zone), now) if starts_on <= today else _day_start(starts_on, zone)
    permits = [p for p in provisions if p.type is ProvisionType.PERMIT]
    denies = [p for p in provisions if p.type is ProvisionType.DENY]
    return ValidTerms(
        provisions=provisions,
        starts_at=starts_at,
        ends_at=_day_start(terms.ends_on, zone) if terms.ends_on else None,
        expires_on=terms.expires_on,
        choices=FormChoices(
            patient_name=patient.name,
            clinic_name=CLINIC_NAME,
            recipients=_recipients(permits, team),
            purposes=frozenset(purpose for p in permits for purpose in p.purposes),
            classes=frozenset(information for p in permits for information in p.classes),
            starts_on=starts_on,
            ends_on=terms.ends_on,
            expires_on=terms.expires_on,
            excluded=_recipients(denies, team),
        ),
    )


def _valid_provision(index: int, provision: ProvisionIn, team: dict[uuid.UUID, CareTeamMember]) -> Provision:
    field = f"provisions[{index}]"
    classes: set[InformationClass] = set()
    for value in provision.classes:
        if value in ("psychotherapy_notes", "psychotherapy"):
            raise InvalidInput(f"{field}.classes", "Psychotherapy notes can never be shared; leave them out.")
        try:
            classes.add(InformationClass(value))
        except ValueError:
            allowed = ", ".join(information.value for information in InformationClass)
            raise InvalidInput(f"{field}.classes", f"{value!r} is not an information class; use {allowed}.") from None
    for role in provision.team_roles:
        if role not in {team_role.value for team_role in TeamRole}:
            raise InvalidInput(f"{field}.team_roles", f"{role!r} is not a care-team role.")
    for person_id in provision.person_ids:
        if person_id not in team:
            raise InvalidInput(
                f"{field}.person_ids",
                "Only members of the patient's care team can be named; someone chosen is not on it. "
                "Ask the clinic administrator to add them to the care team first.",
            )
    if provision.type == "permit":
        if not provision.purposes:
            raise InvalidInput(f"{field}.purposes", "Choose at least one purpose: what may the care team do?")
        if not provision.person_ids and not provision.team_roles:
            raise InvalidInput(f"{field}.person_ids", "Choose at least one person who may take part.")
        if not classes:
            raise InvalidInput(f"{field}.classes", "Choose at least one kind of information that may be shared.")
    return Provision(
        type=ProvisionType(provision.type),
        purposes=frozenset(provision.purposes),
        person_ids=frozenset(provision.person_ids),
        team_roles=frozenset(provision.team_roles),
        classes=frozenset(classes),
    )


def _recipients(provisions: list[Provision], team: dict[uuid.UUID, CareTeamMember]) -> list[Recipient]:
    named: dict[str, Recipient] = {}
    for provision in provisions:
        for person_id in sorted(provision.person_ids):
            member = team[person_id]
            named[str(person_id)] = Recipient(member.person.name, member.role.label.lower())
        for role in sorted(provision.team_roles):
            named[role] = Recipient(f"Whoever is my {TeamRole(role).label.lower()}", "by role")
    return list(named.values())


async def preview(session: AsyncSession, patient: Patient, terms: ConsentTerms) -> tuple[str, str]:
    """The exact text that signing these terms would record, and its hash."""
    text = validate_terms(terms, patient, utcnow()).text
    return text, text_sha256(text)


async def sign_by_patient(
    session: AsyncSession, patient: Patient, data: PatientSignature, client_address: str | None
) -> Consent:
    if not data.agree:
        raise InvalidInput("agree", "Tick the box to confirm that you agree, or close this page to leave it unsigned.")
    if data.signer_kind == "representative" and not data.representative_relationship:
        raise InvalidInput("representative_relationship", "Say how you are related to the patient.")
    now = utcnow()
    terms = validate_terms(data.terms, patient, now)
    if text_sha256(terms.text) != data.text_sha256:
        raise Conflict(
            "The consent form changed while you were reading it (for example, your care team changed). "
            "Please read it again before signing."
        )
    actor = Actor(kind="patient", id=patient.id, client_address=client_address)
    return await _store(
        session,
        actor,
        patient,
        terms,
        now,
        signer_kind=data.signer_kind,
        signer_name=data.signer_name.strip(),
        relationship=data.representative_relationship,
        method="e_signature",
        attested_by=None,
        recorded_by=None,
    )


async def record_in_person(
    session: AsyncSession, caller: Caller, patient_id: uuid.UUID, data: InPersonConsent
) -> Consent:
    patient = await people.patient_for_clinician(session, caller, patient_id)
    if not data.attest:
        raise InvalidInput("attest", "Confirm that you saw the form signed, to record it.")
    if data.signer_kind == "representative" and not data.representative_relationship:
        raise InvalidInput("representative_relationship", "Record how the representative is related to the patient.")
    now = utcnow()
    zone = ZoneInfo(patient.time_zone)
    if data.signed_on > now.astimezone(zone).date():
        raise InvalidInput("signed_on", "The signing date cannot be in the future.")
    terms = validate_terms(data.terms, patient, now)
    signed_at = min(now, _day_start(data.signed_on, zone) + dt.timedelta(hours=12))
    return await _store(
        session,
        caller.actor,
        patient,
        terms,
        signed_at,
        signer_kind=data.signer_kind,
        signer_name=data.signer_name.strip(),
        relationship=data.representative_relationship,
        method="in_person",
        attested_by=caller.person.id,
        recorded_by=caller.person.id,
    )


async def _store(
    session: AsyncSession,
    actor: Actor,
    patient: Patient,
    terms: ValidTerms,
    signed_at: dt.datetime,
    *,
    signer_kind: str,
    signer_name: str,
    relationship: str | None,
    method: str,
    attested_by: uuid.UUID | None,
    recorded_by: uuid.UUID | None,
) -> Consent:
    text = terms.text
    digest = text_sha256(text)
    context = await load(session, patient)
    for existing in context.consents:
        if existing.agreed_text_sha256 == digest and status(existing, utcnow(), context.events) in (
            "active",
            "not_yet_active",
        ):
            raise Conflict(
                f"This consent was already signed on {existing.signed_at.astimezone(context.zone):%d %B %Y} and is "
                "still in effect; nothing was changed.",
                extra={"consent_id": str(existing.id)},
            )
    consent = Consent(
        patient_id=patient.id,
        signer_kind=signer_kind,
        signer_name=signer_name,
        representative_relationship=relationship if signer_kind == "representative" else None,
        signature_method=method,
        attested_by_id=attested_by,
        recorded_by_id=recorded_by,
        signed_at=signed_at,
        starts_at=terms.starts_at,
        ends_at=terms.ends_at,
        expires_on=terms.expires_on.value if terms.expires_on else None,
        form_version=FORM_VERSION,
        agreed_text=text,
        agreed_text_sha256=digest,
        provisions=[
            ConsentProvision(
                position=index,
                type=provision.type.value,
                purposes=sorted(purpose.value for purpose in provision.purposes),
                person_ids=sorted(str(person_id) for person_id in provision.person_ids),
                team_roles=sorted(provision.team_roles),
                classes=sorted(information.value for information in provision.classes),
            )
            for index, provision in enumerate(terms.provisions)
        ],
    )
    session.add(consent)
    await session.flush()
    await audit.record(
        session,
        actor,
        "consent.sign",
        patient_id=patient.id,
        subject=f"consent:{consent.id}",
        detail={"method": method, "form": FORM_VERSION, "sha256": digest},
    )
    await session.refresh(consent, ["revocation"])
    return consent


# ---- revoking and lapsing -----------------------------------------------------------------------


@dataclass(frozen=True)
class LostCoverage:
    person_id: uuid.UUID
    name: str
    purpose: Purpose


@dataclass(frozen=True)
class CoverageLoss:
    patient_id: uuid.UUID
    consent_id: uuid.UUID
    reason: str
    lost: tuple[LostCoverage, ...]


CoverageListener = Callable[[AsyncSession, CoverageLoss, Settings], Awaitable[list[str]]]
_listeners: list[CoverageListener] = []


def on_coverage_lost(listener: CoverageListener) -> CoverageListener:
    """Register what must happen when people lose coverage (used by scheduling and rooms)."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def remove_coverage_listener(listener: CoverageListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


_CHECKED_PURPOSES = (Purpose.JOINT_SESSION, Purpose.CASE_REVIEW, Purpose.SHARE_MINUTES, Purpose.RECORDING)


def coverage(
    context: PatientConsents, at: dt.datetime, facts: list[ConsentFacts] | None = None
) -> dict[Purpose, dict[uuid.UUID, Decision]]:
    """For each purpose, each care-team member's decision (general information)."""
    facts = context.facts() if facts is None else facts
    result: dict[Purpose, dict[uuid.UUID, Decision]] = {}
    for purpose in _CHECKED_PURPOSES:
        result[purpose] = {
            member.person_id: policy.decide(
                _single(purpose, member), facts, at, events=context.events, names=context.names, zone=context.zone
            )
            for member in context.members.values()
        }
    return result


def _single(purpose: Purpose, member: Member) -> Action:
    match purpose:
        case Purpose.JOINT_SESSION:
            return policy.ScheduleJointSession((member,))
        case Purpose.CASE_REVIEW:
            return policy.ScheduleCaseReview((member,))
        case Purpose.SHARE_MINUTES:
            return policy.ShareMinutes(member, frozenset())
        case Purpose.RECORDING:
            return policy.Record((member,))
    raise ValueError(purpose)


def _loss(context: PatientConsents, consent: Consent, reason: str, at: dt.datetime) -> CoverageLoss:
    """Who was covered with this consent still in force, and is not now."""
    target = consent.id
    still_in_force = [
        replace(facts, ends_at=None, revoked_at=None, expires_on=None) if facts.id == target else facts
        for facts in context.facts()
    ]
    before = coverage(context, at, still_in_force)
    after = coverage(context, at)
    lost = tuple(
        LostCoverage(person_id, context.members[person_id].name, purpose)
        for purpose in _CHECKED_PURPOSES
        for person_id, decision in before[purpose].items()
        if decision.permitted and not after[purpose][person_id].permitted
    )
    return CoverageLoss(context.patient.id, target, reason, lost)


async def _act_on_loss(session: AsyncSession, actor: Actor, loss: CoverageLoss, settings: Settings) -> list[str]:
    effects: list[str] = []
    for listener in list(_listeners):
        effects += await listener(session, loss, settings)
    await audit.record(
        session,
        actor,
        "consent.coverage_lost",
        patient_id=loss.patient_id,
        subject=f"consent:{loss.consent_id}",
        detail={
            "reason": loss.reason,
            "lost": [{"person_id": str(item.person_id), "purpose": item.purpose.value} for item in loss.lost],
            "effects": effects,
        },
    )
    return effects


async def revoke(
    session: AsyncSession,
    actor: Actor,
    consent: Consent,
    data: RevocationIn,
    settings: Settings,
    by_person: uuid.UUID | None = None,
) -> CoverageLoss:
    if consent.revocation is not None:
        raise Conflict(
            f"This consent was already revoked on {consent.revocation.revoked_at:%d %B %Y}; nothing was changed."
        )
    now = utcnow()
    revocation = ConsentRevocation(
        consent_id=consent.id,
        revoked_at=now,
        revoked_by_kind=data.revoked_by,
        revoked_by_person_id=by_person,
        method=data.method,
        note=data.note,
    )
    session.add(revocation)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("This consent was revoked a moment ago by someone else; nothing more was changed.") from None
    await session.refresh(consent, ["revocation"])
    await audit.record(
        session,
        actor,
        "consent.revoke",
        patient_id=consent.patient_id,
        subject=f"consent:{consent.id}",
        detail={"by": data.revoked_by, "method": data.method},
    )
    patient = await session.get(Patient, consent.patient_id)
    assert patient is not None
    loss = _loss(await load(session, patient), consent, "revoked", now)
    consent.lapse_processed_at = now
    await _act_on_loss(session, actor, loss, settings)
    return loss


async def process_lapsed(
    session: AsyncSession, settings: Settings, now: dt.datetime | None = None
) -> list[CoverageLoss]:
    """Act once on every consent that ended or expired since it was last looked at."""
    now = now or utcnow()
    candidates = list(
        await session.scalars(
            select(Consent)
            .join(Patient, Patient.id == Consent.patient_id)
            .where(
                Consent.lapse_processed_at.is_(None),
                or_(Consent.ends_at <= now, Patient.treatment_ended_at <= now),
            )
            # Several instances may sweep at once; each consent is taken by one of them.
            .with_for_update(skip_locked=True, of=Consent)
        )
    )
    losses = []
    for consent in candidates:
        patient = await session.get(Patient, consent.patient_id)
        assert patient is not None
        context = await load(session, patient)
        ceased = consent_facts(consent).ceased_at(context.events)
        if ceased is None or ceased > now:
            continue
        consent.lapse_processed_at = now
        loss = _loss(context, consent, "expired", now)
        await _act_on_loss(session, Actor.system(), loss, settings)
        losses.append(loss)
    return losses


# ---- reading ------------------------------------------------------------------------------------


async def for_clinician(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> PatientConsents:
    patient = await people.patient_for_clinician(session, caller, patient_id)
    context = await load(session, patient)
    await audit.record(session, caller.actor, "consent.read", patient_id=patient.id, subject=f"patient:{patient.id}")
    return context


async def consent_for_clinician(session: AsyncSession, caller: Caller, consent_id: uuid.UUID) -> Consent:
    consent = await session.get(Consent, consent_id)
    if consent is None:
        raise NotFound(CONSENT_NOT_FOUND)
    try:
        await people.patient_for_clinician(session, caller, consent.patient_id)
    except NotFound:
        raise NotFound(CONSENT_NOT_FOUND) from None
    await audit.record(
        session, caller.actor, "consent.read", patient_id=consent.patient_id, subject=f"consent:{consent.id}"
    )
    return consent


async def for_patient_self(session: AsyncSession, patient_id: uuid.UUID, client_address: str | None) -> PatientConsents:
    patient = await people.patient_for_self(session, patient_id, client_address)
    return await load(session, patient)


async def people_named(session: AsyncSession, consent: Consent) -> dict[uuid.UUID, str]:
    """Names of everyone a consent mentions (recipients, the attesting clinician), current or not."""
    ids = {uuid.UUID(value) for row in consent.provisions for value in row.person_ids}
    ids |= {person_id for person_id in (consent.attested_by_id, consent.recorded_by_id) if person_id}
    if not ids:
        return {}
    rows = await session.execute(select(Person.id, Person.name).where(Person.id.in_(ids)))
    return {person_id: name for person_id, name in rows.tuples()}


async def own_consent(session: AsyncSession, patient_id: uuid.UUID, consent_id: uuid.UUID) -> Consent:
    """A patient's own consent; another patient's looks exactly like a missing one."""
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.patient_id != patient_id:
        raise NotFound(CONSENT_NOT_FOUND)
    return consent
