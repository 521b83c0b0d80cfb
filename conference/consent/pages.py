"""Consent pages: the patient's own (from a join link) and the care team's."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from litestar import HttpMethod, Request, get, post, route
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit.service import Actor
from conference.auth.join_links import JoinPurpose
from conference.auth.sessions import PatientSession, client_address
from conference.consent import policy, service
from conference.consent.api import state_version
from conference.consent.policy import ExpiryEvent, InformationClass, Purpose
from conference.consent.schemas import (
    ConsentTerms,
    InPersonConsent,
    PatientSignature,
    ProvisionIn,
    RevocationIn,
)
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.db import utcnow
from conference.errors import DomainError, Forbidden, InvalidInput
from conference.forms import parse_form
from conference.http import CallerDep, DbSession, PatientSessionDep, SettingsDep, recover
from conference.people.roles import TeamRole
from conference.people.service import Caller, sorted_team

PURPOSE_CHOICES = [
    (Purpose.JOINT_SESSION, "Meet with me together by video (joint sessions)"),
    (Purpose.CASE_REVIEW, "Meet without me to discuss my care (case reviews)"),
    (Purpose.SHARE_MINUTES, "Receive the written minutes of those meetings"),
    (Purpose.RECORDING, "Record meetings (audio and video)"),
]
CLASS_CHOICES = [
    (InformationClass.GENERAL, "General information about my treatment"),
    (InformationClass.MEDICATION, "My medications"),
    (InformationClass.SUBSTANCE_USE, "Substance use treatment records (protected by 42 CFR Part 2)"),
]
DEFAULT_PURPOSES = [Purpose.JOINT_SESSION.value, Purpose.CASE_REVIEW.value, Purpose.SHARE_MINUTES.value]
REVOKE_METHODS = [("in_person", "In person"), ("by_phone", "By phone"), ("in_writing", "In writing")]


def _see_other(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


def terms_from_form(form: FormMultiDict) -> ConsentTerms:
    """The consent choices a form posts: one permit for the chosen people, purposes and information."""
    try:
        ends_on = dt.date.fromisoformat(form["ends_on"]) if form.get("ends_on") else None
    except ValueError:
        raise InvalidInput("ends_on", "Give the end date as a date, for example 2027-03-31.") from None
    return ConsentTerms(
        provisions=[
            ProvisionIn(
                type="permit",
                purposes=[Purpose(value) for value in form.getall("purposes", []) if value in set(Purpose)],
                person_ids=[_uuid(value) for value in form.getall("person_ids", [])],
                classes=list(form.getall("classes", [])),
            )
        ],
        ends_on=ends_on,
        expires_on=ExpiryEvent.END_OF_TREATMENT if form.get("end_of_treatment") == "on" else None,
    )


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput("person_ids", "Choose people from the list.") from None


def _choices_context(patient: Any, form: FormMultiDict | None) -> dict[str, Any]:
    """What the choice form shows, with what was chosen (or the defaults) ticked."""
    today = utcnow().date()
    team = [member for member in sorted_team(patient) if member.person.active]
    if form is None:
        chosen = {
            "purposes": DEFAULT_PURPOSES,
            "person_ids": [str(member.person_id) for member in team],
            "classes": [InformationClass.GENERAL.value],
            "ends_on": today.replace(year=today.year + 1).isoformat()
            if not (today.month == 2 and today.day == 29)
            else (today + dt.timedelta(days=365)).isoformat(),
            "end_of_treatment": True,
        }
    else:
        chosen = {
            "purposes": form.getall("purposes", []),
            "person_ids": form.getall("person_ids", []),
            "classes": form.getall("classes", []),
            "ends_on": form.get("ends_on", ""),
            "end_of_treatment": form.get("end_of_treatment") == "on",
        }
    return {
        "team": team,
        "purpose_choices": PURPOSE_CHOICES,
        "class_choices": CLASS_CHOICES,
        "chosen": chosen,
    }


# ---- the patient's pages ------------------------------------------------------------------------


def _consent_session(patient_session: PatientSession) -> PatientSession:
    if patient_session.purpose is not JoinPurpose.CONSENT:
        raise Forbidden("This link is for joining a meeting. Use the consent link your care team sent you.")
    return patient_session


@get("/patient")
async def patient_home(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    patient_session: PatientSessionDep,
    done: FromQuery[str | None] = None,
) -> Template:
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    now = utcnow()
    return Template(
        template_name="consent/patient_home.html.j2",
        context={
            "patient_name": context.patient.name,
            "team": sorted_team(context.patient),
            "can_manage_consent": patient_session.purpose is JoinPurpose.CONSENT,
            "consents": _consent_rows(context, now),
            "done": done,
        },
    )


def _choose_page(patient: Any, form: FormMultiDict | None, error: DomainError | None = None) -> Template:
    return Template(
        template_name="consent/patient_choose.html.j2",
        context={"patient_name": patient.name, "error": error, **_choices_context(patient, form)},
        status_code=error.status_code if error else 200,
    )


@route("/patient/consent/new", http_method=[HttpMethod.GET, HttpMethod.POST])
async def patient_consent_choices(
    request: Request[Any, Any, Any], db_session: DbSession, patient_session: PatientSessionDep
) -> Template:
    """The choices, ticked with the defaults; or, posted back from the review page, with the patient's own."""
    _consent_session(patient_session)
    form = await request.form() if request.method == HttpMethod.POST else None
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    return _choose_page(context.patient, form)


@post("/patient/consent/review")
async def patient_consent_review(
    request: Request[Any, Any, Any], db_session: DbSession, patient_session: PatientSessionDep
) -> Template:
    _consent_session(patient_session)
    form = await request.form()
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    try:
        terms = terms_from_form(form)
        text, digest = await service.preview(db_session, context.patient, terms)
    except DomainError as error:
        return _choose_page(context.patient, form, error)
    return _review_page(context.patient.name, form, text, digest)


def _review_page(
    patient_name: str,
    form: FormMultiDict,
    text: str,
    digest: str,
    error: DomainError | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="consent/patient_review.html.j2",
        context={
            "patient_name": patient_name,
            "text": text,
            "text_sha256": digest,
            "carried": [
                (key, value)
                for key, value in form.multi_items()
                if key in ("purposes", "person_ids", "classes", "ends_on", "end_of_treatment")
            ],
            "signer_name": form.get("signer_name", ""),
            "signer_kind": form.get("signer_kind", "patient"),
            "representative_relationship": form.get("representative_relationship", ""),
            "error": error,
        },
        status_code=status_code,
    )


@post("/patient/consent/sign")
async def patient_consent_sign(
    request: Request[Any, Any, Any], db_session: DbSession, patient_session: PatientSessionDep
) -> Template | Redirect:
    _consent_session(patient_session)
    form = await request.form()
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    try:
        terms = terms_from_form(form)
        signature = parse_form(
            form,
            PatientSignature,
            only=("text_sha256", "signer_name", "signer_kind", "representative_relationship"),
            extra={"terms": msgspec.to_builtins(terms), "agree": form.get("agree") == "on"},
        )
        await service.sign_by_patient(db_session, context.patient, signature, client_address(request))
    except DomainError as error:
        await db_session.rollback()
        context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
        try:
            text, digest = await service.preview(db_session, context.patient, terms_from_form(form))
        except DomainError:
            # The choices themselves no longer hold (the care team changed): choose again.
            return _choose_page(context.patient, form, error)
        return _review_page(context.patient.name, form, text, digest, error, error.status_code)
    return _see_other("/patient?done=signed")


@get("/patient/consents/{consent_id:uuid}")
async def patient_consent_view(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    patient_session: PatientSessionDep,
    consent_id: FromPath[uuid.UUID],
) -> Template:
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    consent = await service.own_consent(db_session, context.patient.id, consent_id)
    return Template(
        template_name="consent/patient_consent.html.j2",
        context={
            "patient_name": context.patient.name,
            "row": _consent_row(consent, context, utcnow()),
            "confirm_revoke": False,
            "can_manage_consent": patient_session.purpose is JoinPurpose.CONSENT,
        },
    )


@get("/patient/consents/{consent_id:uuid}/revoke")
async def patient_revoke_confirm(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    patient_session: PatientSessionDep,
    consent_id: FromPath[uuid.UUID],
) -> Template:
    _consent_session(patient_session)
    context = await service.for_patient_self(db_session, patient_session.patient_id, client_address(request))
    consent = await service.own_consent(db_session, context.patient.id, consent_id)
    return Template(
        template_name="consent/patient_consent.html.j2",
        context={
            "patient_name": context.patient.name,
            "row": _consent_row(consent, context, utcnow()),
            "confirm_revoke": True,
            "can_manage_consent": True,
        },
    )


@post("/patient/consents/{consent_id:uuid}/revoke")
async def patient_revoke(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: SettingsDep,
    patient_session: PatientSessionDep,
    consent_id: FromPath[uuid.UUID],
) -> Redirect:
    _consent_session(patient_session)
    consent = await service.own_consent(db_session, patient_session.patient_id, consent_id)
    actor = Actor(kind="patient", id=patient_session.patient_id, client_address=client_address(request))
    await service.revoke(db_session, actor, consent, RevocationIn(revoked_by="patient", method="online"), settings)
    return _see_other("/patient?done=revoked")


# ---- the care team's pages ----------------------------------------------------------------------


@get("/patients/{patient_id:uuid}/consent")
async def consent_status(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
) -> Template:
    context = await service.for_clinician(db_session, caller, patient_id)
    question = await _planned_meeting_question(db_session, caller, context, request)
    return Template(
        template_name="consent/status.html.j2",
        context=await _status_context(db_session, caller, context, question),
    )


async def _planned_meeting_question(
    db_session: AsyncSession, caller: Caller, context: service.PatientConsents, request: Request[Any, Any, Any]
) -> dict[str, Any] | None:
    """The answer to "would this meeting be covered?" when the page was asked it."""
    kind = request.query_params.get("kind")
    chosen = [value for value in request.query_params.getall("person_ids", []) if value]
    if kind not in ("joint_session", "case_review"):
        return None
    if not chosen:
        return {"kind": kind, "chosen": [], "decision": None, "error": "Choose who would attend."}
    members = await service.members_for(db_session, context, [_uuid(value) for value in chosen])
    action: policy.Action = (
        policy.ScheduleJointSession(members) if kind == "joint_session" else policy.ScheduleCaseReview(members)
    )
    decision = await service.check(db_session, caller.actor, context.patient, action)
    return {"kind": kind, "chosen": chosen, "decision": decision, "error": None}


async def _status_context(
    db_session: AsyncSession, caller: Caller, context: service.PatientConsents, question: dict[str, Any] | None
) -> dict[str, Any]:
    now = utcnow()
    matrix = service.coverage(context, now)
    team = [member for member in sorted_team(context.patient) if member.person.active]
    return {
        "caller": caller,
        "patient": context.patient,
        "team": team,
        "purposes": [purpose for purpose, _ in PURPOSE_CHOICES],
        "purpose_labels": {purpose: purpose.label for purpose, _ in PURPOSE_CHOICES},
        "coverage": matrix,
        "consents": _consent_rows(context, now),
        "question": question,
        "state_version": state_version(context),
        "revoke_methods": REVOKE_METHODS,
        "redisclosure_notice": REDISCLOSURE_NOTICE,
    }


@get("/patients/{patient_id:uuid}/consent/in-person")
async def in_person_form(db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]) -> Template:
    context = await service.for_clinician(db_session, caller, patient_id)
    return _in_person_page(caller, context, None, None)


def _in_person_page(
    caller: Caller, context: service.PatientConsents, form: FormMultiDict | None, error: DomainError | None
) -> Template:
    return Template(
        template_name="consent/in_person.html.j2",
        context={
            "caller": caller,
            "patient": context.patient,
            "error": error,
            "signer_name": form.get("signer_name", "") if form else context.patient.name,
            "signer_kind": form.get("signer_kind", "patient") if form else "patient",
            "representative_relationship": form.get("representative_relationship", "") if form else "",
            "signed_on": form.get("signed_on", "") if form else utcnow().date().isoformat(),
            **_choices_context(context.patient, form),
        },
        status_code=error.status_code if error else 200,
    )


@post("/patients/{patient_id:uuid}/consent/in-person")
async def record_in_person(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    try:
        data = parse_form(
            form,
            InPersonConsent,
            only=("signer_name", "signer_kind", "representative_relationship", "signed_on"),
            extra={"terms": msgspec.to_builtins(terms_from_form(form)), "attest": form.get("attest") == "on"},
        )
        await service.record_in_person(db_session, caller, patient_id, data)
    except DomainError as error:
        await recover(db_session, caller)
        context = await service.for_clinician(db_session, caller, patient_id)
        return _in_person_page(caller, context, form, error)
    return _see_other(f"/patients/{patient_id}/consent")


@post("/patients/{patient_id:uuid}/consents/{consent_id:uuid}/revoke")
async def record_revocation(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    settings: SettingsDep,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    consent_id: FromPath[uuid.UUID],
) -> Redirect:
    form = await request.form()
    consent = await service.consent_for_clinician(db_session, caller, consent_id)
    data = parse_form(form, RevocationIn)
    await service.revoke(db_session, caller.actor, consent, data, settings, by_person=caller.person.id)
    return _see_other(f"/patients/{patient_id}/consent")


# ---- shared -------------------------------------------------------------------------------------


def _consent_rows(context: service.PatientConsents, now: dt.datetime) -> list[dict[str, Any]]:
    return [_consent_row(consent, context, now) for consent in reversed(context.consents)]


def _consent_row(consent: Any, context: service.PatientConsents, now: dt.datetime) -> dict[str, Any]:
    """A consent described for a page, in the patient's time zone."""
    zone = context.zone
    names = context.names
    provisions = []
    for row in consent.provisions:
        people = [names.get(uuid.UUID(value), "someone no longer on the care team") for value in row.person_ids]
        people += [f"whoever is the {TeamRole(role).label.lower()}" for role in row.team_roles]
        provisions.append(
            {
                "type": row.type,
                "people": people,
                "purposes": [purpose.label for purpose in Purpose if purpose.value in row.purposes],
                "classes": [information.label for information in InformationClass if information.value in row.classes],
            }
        )
    revocation = consent.revocation
    return {
        "id": consent.id,
        "status": service.status(consent, now, context.events),
        "signed_at": consent.signed_at.astimezone(zone),
        "signer_name": consent.signer_name,
        "signer_kind": consent.signer_kind,
        "signature_method": consent.signature_method,
        "starts_at": consent.starts_at.astimezone(zone),
        "ends_at": consent.ends_at.astimezone(zone) if consent.ends_at else None,
        "expires_on": ExpiryEvent(consent.expires_on).label if consent.expires_on else None,
        "provisions": provisions,
        "revoked_at": revocation.revoked_at.astimezone(zone) if revocation else None,
        "revoked_by": revocation.revoked_by_kind if revocation else None,
        "revocation_method": revocation.method.replace("_", " ") if revocation else None,
        "representative_relationship": consent.representative_relationship,
        "attested_by": names.get(consent.attested_by_id) if consent.attested_by_id else None,
        "text": consent.agreed_text,
        "sha256": consent.agreed_text_sha256,
        "includes_part2": any(InformationClass.SUBSTANCE_USE.value in row.classes for row in consent.provisions),
    }


route_handlers = [
    patient_home,
    patient_consent_choices,
    patient_consent_review,
    patient_consent_sign,
    patient_consent_view,
    patient_revoke_confirm,
    patient_revoke,
    consent_status,
    in_person_form,
    record_in_person,
    record_revocation,
]
