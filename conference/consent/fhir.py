"""A signed consent as a FHIR R4 Consent resource (JSON-ready). Pure: no I/O and no framework.

Our own codes (purposes, information classes, care-team roles) are published under the service's
base URL; standard codes are added alongside where one fits (v3-ActReason TREAT for every purpose,
v3-ActCode ETH for substance use records, v3-ParticipationType IRCP for named recipients).

Where the record says nothing, FHIR's reading matches ours: a deny provision that names no purpose,
class or person applies to any.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from conference.consent.models import Consent, ConsentProvision, ConsentRevocation
from conference.consent.policy import InformationClass, ProvisionType, Purpose
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.people.roles import TeamRole

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
LOINC = "http://loinc.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# R4 has no element for who verified a consent (R5 adds Consent.verification.verifiedBy); HL7's
# cross-version extension carries it.
VERIFIED_BY = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Consent.verification.verifiedBy"

# Our status (service.status) -> FHIR Consent.status.
_STATUS = {
    "active": "active",
    "not_yet_active": "active",
    "expired": "inactive",
    "revoked": "inactive",
}


def consent_resource(
    consent: Consent,
    *,
    status: str,
    base_url: str,
    people: Mapping[uuid.UUID, str],
    team_roles: Mapping[uuid.UUID, str],
) -> dict[str, Any]:
    """``consent`` as a FHIR R4 Consent.

    ``status`` is ours (active, not_yet_active, expired, revoked); ``people`` names staff by id;
    ``team_roles`` holds each named recipient's current care-team role, recorded on their actor.
    """
    if status not in _STATUS:
        raise ValueError(f"unknown consent status {status!r}; expected one of {', '.join(_STATUS)}")
    if status == "revoked" and consent.revocation is None:
        raise ValueError("a revoked consent needs its revocation")
    base = base_url.rstrip("/")
    provisions = sorted(consent.provisions, key=lambda provision: provision.position)

    extensions: list[dict[str, Any]] = []
    if any(InformationClass.SUBSTANCE_USE.value in provision.classes for provision in provisions):
        extensions.append(
            {"url": f"{base}/fhir/StructureDefinition/redisclosure-notice", "valueString": REDISCLOSURE_NOTICE}
        )
    if consent.expires_on:
        extensions.append({"url": f"{base}/fhir/StructureDefinition/expires-on-event", "valueCode": consent.expires_on})
    if status == "revoked" and consent.revocation is not None:
        extensions.append(_revocation(consent.revocation, base))

    resource: dict[str, Any] = {"resourceType": "Consent", "id": str(consent.id)}
    if extensions:
        resource["extension"] = extensions
    resource |= {
        "status": _STATUS[status],
        "scope": _concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
        "category": [_concept(LOINC, "59284-0", "Patient Consent")],
        "patient": {"reference": f"Patient/{consent.patient_id}"},
        "dateTime": _datetime(consent.signed_at),
        "performer": [_signer(consent)],
        "sourceAttachment": _attachment(consent),
        "policyRule": _concept(V3_ACT_CODE, "OPTIN", "opt-in"),
    }
    if consent.signature_method == "in_person":
        resource["verification"] = [_verification(consent, people)]
    resource["provision"] = {
        "type": ProvisionType.PERMIT.value,
        "period": _period(consent.starts_at, consent.ends_at),
        "provision": [_provision(provision, base, people, team_roles) for provision in provisions],
    }
    return resource


# ---- parts --------------------------------------------------------------------------------------


def _signer(consent: Consent) -> dict[str, Any]:
    """Who signed. A representative is not stored as a RelatedPerson, so they are named only."""
    if consent.signer_kind == "patient":
        return {"reference": f"Patient/{consent.patient_id}", "display": consent.signer_name}
    if consent.signer_kind == "representative":
        relationship = consent.representative_relationship or "representative"
        return {"type": "RelatedPerson", "display": f"{consent.signer_name} ({relationship})"}
    raise ValueError(f"unknown signer kind {consent.signer_kind!r}")


def _verification(consent: Consent, people: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    """Signed in front of a clinician. R4's verifiedWith is whom it was verified with (the signer:
    Patient or RelatedPerson); the attesting clinician goes in the verifiedBy extension."""
    verification: dict[str, Any] = {}
    if consent.attested_by_id is not None:
        verification["extension"] = [
            {"url": VERIFIED_BY, "valueReference": _practitioner(consent.attested_by_id, people)}
        ]
    verification |= {
        "verified": True,
        "verifiedWith": _signer(consent),
        "verificationDate": _datetime(consent.signed_at),
    }
    return verification


def _attachment(consent: Consent) -> dict[str, Any]:
    """The exact text signed. FHIR's Attachment.hash is the base64 SHA-1 of the data."""
    data = consent.agreed_text.encode("utf-8")
    return {
        "contentType": "text/plain; charset=utf-8",
        "data": base64.b64encode(data).decode("ascii"),
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii"),
        "title": consent.form_version,
        "creation": _datetime(consent.signed_at),
    }


def _revocation(revocation: ConsentRevocation, base: str) -> dict[str, Any]:
    return {
        "url": f"{base}/fhir/StructureDefinition/consent-revocation",
        "extension": [
            {"url": "revokedAt", "valueDateTime": _datetime(revocation.revoked_at)},
            {"url": "revokedBy", "valueCode": revocation.revoked_by_kind},
            {"url": "method", "valueCode": revocation.method},
        ],
    }


def _provision(
    provision: ConsentProvision,
    base: str,
    people: Mapping[uuid.UUID, str],
    team_roles: Mapping[uuid.UUID, str],
) -> dict[str, Any]:
    """One stored provision. An empty list is left out, which FHIR reads as "any", as we do on a deny."""
    result: dict[str, Any] = {"type": ProvisionType(provision.type).value}
    actors = [_person_actor(uuid.UUID(value), base, people, team_roles) for value in provision.person_ids]
    actors += [_team_role_actor(role, base) for role in provision.team_roles]
    if actors:
        result["actor"] = actors
    if provision.purposes:
        result["purpose"] = [
            *(
                _coding(f"{base}/fhir/CodeSystem/consent-purpose", purpose, Purpose(purpose).label)
                for purpose in provision.purposes
            ),
            _coding(V3_ACT_REASON, "TREAT", "treatment"),
        ]
    if provision.classes:
        result["class"] = _classes(provision.classes, base)
    return result


def _person_actor(
    person_id: uuid.UUID, base: str, people: Mapping[uuid.UUID, str], team_roles: Mapping[uuid.UUID, str]
) -> dict[str, Any]:
    actor: dict[str, Any] = {}
    role = team_roles.get(person_id)
    if role is not None:
        actor["extension"] = [
            {"url": f"{base}/fhir/StructureDefinition/care-team-role", "valueCoding": _team_role_coding(role, base)}
        ]
    actor |= {
        "role": _concept(V3_PARTICIPATION_TYPE, "IRCP", "information recipient"),
        "reference": _practitioner(person_id, people),
    }
    return actor


def _team_role_actor(role: str, base: str) -> dict[str, Any]:
    """Whoever holds a care-team role. R4 requires actor.reference, and no resource stands for
    "whoever holds this role", so the reference is a description only."""
    return {
        "role": {"coding": [_team_role_coding(role, base)]},
        "reference": {"display": f"Whoever is the patient's {_team_role_label(role).lower()}"},
    }


def _classes(classes: Sequence[str], base: str) -> list[dict[str, Any]]:
    codings = [
        _coding(f"{base}/fhir/CodeSystem/information-class", value, InformationClass(value).label) for value in classes
    ]
    if InformationClass.SUBSTANCE_USE.value in classes:
        codings.append(_coding(V3_ACT_CODE, "ETH", "substance abuse information sensitivity"))
    return codings


def _team_role_coding(role: str, base: str) -> dict[str, Any]:
    return _coding(f"{base}/fhir/CodeSystem/care-team-role", role, _team_role_label(role))


def _team_role_label(role: str) -> str:
    try:
        return TeamRole(role).label
    except ValueError:
        return role.replace("_", " ").capitalize()


def _practitioner(person_id: uuid.UUID, people: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"Practitioner/{person_id}"}
    name = people.get(person_id)
    if name is not None:
        reference["display"] = name
    return reference


def _period(start: dt.datetime, end: dt.datetime | None) -> dict[str, Any]:
    period = {"start": _datetime(start)}
    if end is not None:
        period["end"] = _datetime(end)
    return period


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    return coding


def _datetime(moment: dt.datetime) -> str:
    """ISO 8601 with its offset, as FHIR's dateTime requires once a time is given."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.isoformat()
