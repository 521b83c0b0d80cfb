"""JSON API for consents, under /api/v1; FHIR R4 export of a consent."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from conference.consent import policy, service
from conference.consent.fhir import consent_resource
from conference.consent.models import Consent
from conference.consent.policy import InformationClass, Purpose
from conference.consent.schemas import (
    CheckIn,
    ConsentOut,
    DecisionOut,
    GapOut,
    InPersonConsent,
    ProvisionOut,
    RevocationIn,
)
from conference.db import utcnow
from conference.errors import InvalidInput
from conference.http import CallerDep, DbSession, QuietCallerDep, SettingsDep


def consent_out(consent: Consent, context: service.PatientConsents) -> ConsentOut:
    revocation = consent.revocation
    return ConsentOut(
        id=consent.id,
        patient_id=consent.patient_id,
        status=service.status(consent, utcnow(), context.events),  # type: ignore[arg-type]
        signer_kind=consent.signer_kind,
        signer_name=consent.signer_name,
        signature_method=consent.signature_method,
        attested_by_id=consent.attested_by_id,
        signed_at=consent.signed_at,
        starts_at=consent.starts_at,
        ends_at=consent.ends_at,
        expires_on=consent.expires_on,
        form_version=consent.form_version,
        agreed_text_sha256=consent.agreed_text_sha256,
        provisions=[
            ProvisionOut(
                type=row.type,
                purposes=row.purposes,
                person_ids=[uuid.UUID(value) for value in row.person_ids],
                team_roles=row.team_roles,
                classes=row.classes,
            )
            for row in consent.provisions
        ],
        revoked_at=revocation.revoked_at if revocation else None,
        revoked_by=revocation.revoked_by_kind if revocation else None,
        revocation_method=revocation.method if revocation else None,
    )


def decision_out(decision: policy.Decision, fix_url: str | None) -> DecisionOut:
    return DecisionOut(
        permitted=decision.permitted,
        message=decision.message,
        gaps=[GapOut(g.person_id, g.name, g.purpose.value, g.information.value, g.message) for g in decision.gaps],
        relied_on=list(decision.relied_on),
        redisclosure_notice_required=decision.redisclosure_notice_required,
        fix_url=None if decision.permitted else fix_url,
    )


def state_version(context: service.PatientConsents) -> str:
    """Changes whenever a consent is signed, revoked or lapses: what a page polls to stay current."""
    parts = [
        f"{consent.id}:{service.status(consent, utcnow(), context.events)}" for consent in context.consents
    ] + sorted(f"{member.person_id}:{member.team_role}" for member in context.members.values())
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def action_for(data: CheckIn, members: tuple[policy.Member, ...]) -> policy.Action:
    classes = frozenset(InformationClass(value) for value in data.classes if value in set(InformationClass))
    match data.action:
        case "joint_session":
            return policy.ScheduleJointSession(members)
        case "case_review":
            return policy.ScheduleCaseReview(members)
        case "record":
            return policy.Record(members)
    if len(members) != 1:
        raise InvalidInput("person_ids", f"Ask about one person at a time for {data.action.replace('_', ' ')}.")
    if data.action == "admit":
        return policy.AdmitToRoom(members[0], Purpose.JOINT_SESSION)
    return policy.ShareMinutes(members[0], classes)


class PatientConsentsController(Controller):
    path = "/api/v1/patients/{patient_id:uuid}"
    tags = ["consents"]

    @get("/consents")
    async def list_consents(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
    ) -> list[ConsentOut]:
        context = await service.for_clinician(db_session, caller, patient_id)
        return [consent_out(consent, context) for consent in context.consents]

    @get("/consents/state")
    async def consent_state(
        self, db_session: DbSession, quiet_caller: QuietCallerDep, patient_id: FromPath[uuid.UUID]
    ) -> dict[str, str]:
        context = await service.for_clinician(db_session, quiet_caller, patient_id)
        return {"version": state_version(context)}

    @post("/consents")
    async def record_in_person(
        self,
        db_session: DbSession,
        caller: CallerDep,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[InPersonConsent],
    ) -> ConsentOut:
        consent = await service.record_in_person(db_session, caller, patient_id, data)
        context = await service.for_clinician(db_session, caller, patient_id)
        return consent_out(consent, context)

    @post("/consent-check", status_code=200)
    async def check(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], data: JSONBody[CheckIn]
    ) -> DecisionOut:
        context = await service.for_clinician(db_session, caller, patient_id)
        members = await service.members_for(db_session, context, data.person_ids)
        decision = await service.check(db_session, caller.actor, context.patient, action_for(data, members), data.at)
        return decision_out(decision, f"/patients/{patient_id}/consent")


class ConsentsController(Controller):
    path = "/api/v1/consents/{consent_id:uuid}"
    tags = ["consents"]

    @get("/")
    async def get_consent(
        self, db_session: DbSession, caller: CallerDep, consent_id: FromPath[uuid.UUID]
    ) -> ConsentOut:
        consent = await service.consent_for_clinician(db_session, caller, consent_id)
        context = await service.for_clinician(db_session, caller, consent.patient_id)
        return consent_out(consent, context)

    @post("/revocation", status_code=200)
    async def revoke(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        consent_id: FromPath[uuid.UUID],
        data: JSONBody[RevocationIn],
    ) -> dict[str, Any]:
        consent = await service.consent_for_clinician(db_session, caller, consent_id)
        loss = await service.revoke(db_session, caller.actor, consent, data, settings, by_person=caller.person.id)
        context = await service.for_clinician(db_session, caller, consent.patient_id)
        return {
            "consent": consent_out(consent, context),
            "coverage_lost": [
                {"person_id": str(item.person_id), "name": item.name, "purpose": item.purpose.value}
                for item in loss.lost
            ],
        }

    @get("/fhir", media_type="application/fhir+json")
    async def fhir(
        self,
        request: Request[Any, Any, Any],
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        consent_id: FromPath[uuid.UUID],
    ) -> Response[dict[str, Any]]:
        consent = await service.consent_for_clinician(db_session, caller, consent_id)
        context = await service.for_clinician(db_session, caller, consent.patient_id)
        people = await service.people_named(db_session, consent)
        resource = consent_resource(
            consent,
            status=service.status(consent, utcnow(), context.events),
            base_url=settings.public_base_url,
            people=people,
            team_roles={member.person_id: member.team_role or "" for member in context.members.values()},
        )
        return Response(resource, media_type="application/fhir+json")


route_handlers = [PatientConsentsController, ConsentsController]
