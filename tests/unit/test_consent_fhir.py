"""Consents exported as FHIR R4 Consent resources, checked against the R4B models (Consent is the same in R4)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.consent import Consent as FhirConsent
from fhir.resources.R4B.extension import Extension

from conference.consent.fhir import VERIFIED_BY, consent_resource
from conference.consent.models import Consent, ConsentProvision, ConsentRevocation
from conference.consent.wording import FORM_VERSION, REDISCLOSURE_NOTICE

BASE_URL = "https://clinic.example/"
BASE = "https://clinic.example"
PURPOSES = f"{BASE}/fhir/CodeSystem/consent-purpose"
CLASSES = f"{BASE}/fhir/CodeSystem/information-class"
TEAM_ROLES = f"{BASE}/fhir/CodeSystem/care-team-role"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

SIGNED = dt.datetime(2026, 3, 3, 15, 4, 5, 123456, tzinfo=dt.UTC)
STARTS = dt.datetime(2026, 3, 4, 5, 0, tzinfo=dt.UTC)
ENDS = dt.datetime(2027, 3, 4, 5, 0, tzinfo=dt.UTC)

PATIENT = uuid.uuid4()
LEE = uuid.uuid4()
PARK = uuid.uuid4()
KIM = uuid.uuid4()
NURSE = uuid.uuid4()
PEOPLE = {LEE: "Dr. Lee", PARK: "Dr. Park", KIM: "Kim Ortiz", NURSE: "Nurse Adeyemi"}
ROLES = {LEE: "prescriber", PARK: "primary_therapist", KIM: "case_manager"}
TEXT = "Consent to share information within my care team\nI, José Núñez, agree.\n"


def provision(
    position: int,
    type: str = "permit",
    *,
    purposes: list[str] | None = None,
    people: list[uuid.UUID] | None = None,
    roles: list[str] | None = None,
    classes: list[str] | None = None,
) -> ConsentProvision:
    return ConsentProvision(
        id=uuid.uuid4(),
        position=position,
        type=type,
        purposes=["case_review"] if purposes is None else purposes,
        person_ids=sorted(str(person) for person in people or []),
        team_roles=roles or [],
        classes=["general"] if classes is None else classes,
    )


def consent(*provisions: ConsentProvision, **fields: Any) -> Consent:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient_id": PATIENT,
        "signer_kind": "patient",
        "signer_name": "José Núñez",
        "representative_relationship": None,
        "signature_method": "e_signature",
        "attested_by_id": None,
        "recorded_by_id": None,
        "signed_at": SIGNED,
        "starts_at": STARTS,
        "ends_at": None,
        "expires_on": None,
        "form_version": FORM_VERSION,
        "agreed_text": TEXT,
        "agreed_text_sha256": hashlib.sha256(TEXT.encode()).hexdigest(),
        "provisions": list(provisions) or [provision(0)],
        "revocation": None,
    }
    return Consent(**(values | fields))


def export(record: Consent, status: str = "active") -> tuple[dict[str, Any], FhirConsent]:
    resource = consent_resource(record, status=status, base_url=BASE_URL, people=PEOPLE, team_roles=ROLES)
    return resource, FhirConsent.model_validate(resource)


def codes(codings: Any) -> list[tuple[str | None, str | None]]:
    return [(coding.system, coding.code) for coding in codings or []]


def extension(extensions: list[Extension] | None, url: str) -> Extension:
    matches = [item for item in extensions or [] if item.url == url]
    assert len(matches) == 1, f"expected one {url} extension"
    return matches[0]


def urls(extensions: list[Extension] | None) -> set[str]:
    return {str(item.url) for item in extensions or []}


def test_active_e_signed_patient_consent_with_a_permit_and_a_deny() -> None:
    permit = provision(
        0,
        purposes=["case_review", "joint_session"],
        people=[LEE, PARK],
        roles=["case_manager"],
        classes=["general", "medication"],
    )
    deny = provision(1, "deny", purposes=["recording"], people=[KIM], classes=[])
    record = consent(deny, permit, ends_at=ENDS)  # stored out of order: position decides

    resource, fhir = export(record)

    assert resource["resourceType"] == "Consent"
    assert fhir.id == str(record.id)
    assert fhir.status == "active"
    assert codes(fhir.scope.coding) == [("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")]
    assert codes(fhir.category[0].coding) == [("http://loinc.org", "59284-0")]
    assert fhir.patient.reference == f"Patient/{PATIENT}"
    assert fhir.dateTime == SIGNED
    assert resource["dateTime"] == "2026-03-03T15:04:05.123456+00:00"
    assert [(p.reference, p.display) for p in fhir.performer] == [(f"Patient/{PATIENT}", "José Núñez")]
    assert fhir.verification is None
    assert codes(fhir.policyRule.coding) == [(V3_ACT_CODE, "OPTIN")]
    assert fhir.extension is None  # no substance use, no expiry event, not revoked

    root = fhir.provision
    assert root.type == "permit"
    assert (root.period.start, root.period.end) == (STARTS, ENDS)
    first, second = root.provision
    assert first.type == "permit"
    people = [actor for actor in first.actor if actor.reference.reference]
    assert [(a.reference.reference, a.reference.display) for a in people] == [
        (f"Practitioner/{person}", PEOPLE[person]) for person in sorted([LEE, PARK], key=str)
    ]
    assert all(codes(a.role.coding) == [(V3_PARTICIPATION, "IRCP")] for a in people)
    for actor in people:
        person = uuid.UUID(actor.reference.reference.removeprefix("Practitioner/"))
        role = extension(actor.extension, f"{BASE}/fhir/StructureDefinition/care-team-role")
        assert (role.valueCoding.system, role.valueCoding.code) == (TEAM_ROLES, ROLES[person])
    (by_role,) = [actor for actor in first.actor if not actor.reference.reference]
    assert codes(by_role.role.coding) == [(TEAM_ROLES, "case_manager")]
    assert by_role.reference.display == "Whoever is the patient's case manager"
    assert codes(first.purpose) == [(PURPOSES, "case_review"), (PURPOSES, "joint_session"), (V3_ACT_REASON, "TREAT")]
    assert codes(first.class_fhir) == [(CLASSES, "general"), (CLASSES, "medication")]

    assert second.type == "deny"
    assert [(a.reference.reference, codes(a.role.coding)) for a in second.actor] == [
        (f"Practitioner/{KIM}", [(V3_PARTICIPATION, "IRCP")])
    ]
    assert codes(second.purpose) == [(PURPOSES, "recording"), (V3_ACT_REASON, "TREAT")]
    assert second.class_fhir is None  # no class named: the deny covers every class, in FHIR as here


def test_a_deny_naming_nothing_covers_everything() -> None:
    _, fhir = export(consent(provision(0, people=[LEE]), provision(1, "deny", purposes=[], people=[], classes=[])))

    deny = fhir.provision.provision[1]
    assert deny.type == "deny"
    assert (deny.actor, deny.purpose, deny.class_fhir) == (None, None, None)


def test_someone_no_longer_named_or_on_the_team_is_still_referenced() -> None:
    gone = uuid.uuid4()
    _, fhir = export(consent(provision(0, people=[gone])))

    (actor,) = fhir.provision.provision[0].actor
    assert (actor.reference.reference, actor.reference.display, actor.extension) == (f"Practitioner/{gone}", None, None)


def test_in_person_consent_by_a_representative_is_verified() -> None:
    record = consent(
        provision(0, people=[LEE]),
        signer_kind="representative",
        signer_name="Ana Núñez",
        representative_relationship="mother",
        signature_method="in_person",
        attested_by_id=NURSE,
        recorded_by_id=NURSE,
        expires_on="end_of_treatment",
    )

    _, fhir = export(record, "not_yet_active")

    assert fhir.status == "active"
    ((performer_type, performer),) = [(p.type, p.display) for p in fhir.performer]
    assert (performer_type, performer) == ("RelatedPerson", "Ana Núñez (mother)")
    assert fhir.performer[0].reference is None
    (verification,) = fhir.verification
    assert verification.verified is True
    assert verification.verificationDate == SIGNED
    assert (verification.verifiedWith.type, verification.verifiedWith.display) == (
        "RelatedPerson",
        "Ana Núñez (mother)",
    )
    verified_by = extension(verification.extension, VERIFIED_BY).valueReference
    assert (verified_by.reference, verified_by.display) == (f"Practitioner/{NURSE}", "Nurse Adeyemi")
    expiry = extension(fhir.extension, f"{BASE}/fhir/StructureDefinition/expires-on-event")
    assert expiry.valueCode == "end_of_treatment"
    assert fhir.provision.period.end is None
    assert "verification" not in export(consent())[0]


def test_in_person_consent_by_the_patient_is_verified_with_the_patient() -> None:
    record = consent(signature_method="in_person", attested_by_id=NURSE)

    _, fhir = export(record)

    (verification,) = fhir.verification
    assert verification.verifiedWith.reference == f"Patient/{PATIENT}"
    assert extension(verification.extension, VERIFIED_BY).valueReference.reference == f"Practitioner/{NURSE}"


def test_revoked_consent_is_inactive_and_says_when_and_how() -> None:
    revoked_at = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
    record = consent(provision(0, people=[LEE]))
    record.revocation = ConsentRevocation(
        id=uuid.uuid4(),
        consent_id=record.id,
        revoked_at=revoked_at,
        revoked_by_kind="representative",
        revoked_by_person_id=None,
        method="by_phone",
        note="Called the front desk.",
    )

    resource, fhir = export(record, "revoked")

    assert fhir.status == "inactive"
    revocation = extension(fhir.extension, f"{BASE}/fhir/StructureDefinition/consent-revocation")
    parts = {str(part.url): part for part in revocation.extension}
    assert set(parts) == {"revokedAt", "revokedBy", "method"}
    assert parts["revokedAt"].valueDateTime == revoked_at
    assert parts["revokedBy"].valueCode == "representative"
    assert parts["method"].valueCode == "by_phone"
    assert "Called the front desk." not in str(resource)


def test_expired_consent_is_inactive_and_its_period_shows_the_end() -> None:
    _, fhir = export(consent(ends_at=ENDS), "expired")

    assert fhir.status == "inactive"
    assert fhir.provision.period.end == ENDS
    assert f"{BASE}/fhir/StructureDefinition/consent-revocation" not in urls(fhir.extension)


def test_substance_use_records_carry_the_eth_label_and_the_redisclosure_notice() -> None:
    record = consent(
        provision(0, people=[LEE], classes=["general", "substance_use"]),
        provision(1, people=[PARK], classes=["general"]),
    )

    _, fhir = export(record)

    with_sud, without = fhir.provision.provision
    assert codes(with_sud.class_fhir) == [
        (CLASSES, "general"),
        (CLASSES, "substance_use"),
        (V3_ACT_CODE, "ETH"),
    ]
    assert (V3_ACT_CODE, "ETH") not in codes(without.class_fhir)
    notice = extension(fhir.extension, f"{BASE}/fhir/StructureDefinition/redisclosure-notice")
    assert notice.valueString == REDISCLOSURE_NOTICE


def test_source_attachment_is_the_exact_text_signed() -> None:
    resource, fhir = export(consent())

    attachment = fhir.sourceAttachment
    raw = resource["sourceAttachment"]
    assert base64.b64decode(raw["data"], validate=True).decode("utf-8") == TEXT
    assert attachment.data == TEXT.encode("utf-8")
    assert raw["hash"] == base64.b64encode(hashlib.sha1(TEXT.encode("utf-8")).digest()).decode("ascii")
    assert attachment.hash == hashlib.sha1(attachment.data).digest()
    assert attachment.size == len(TEXT.encode("utf-8"))
    assert attachment.contentType == "text/plain; charset=utf-8"
    assert attachment.title == FORM_VERSION


@pytest.mark.parametrize(
    ("ours", "theirs"), [("active", "active"), ("not_yet_active", "active"), ("expired", "inactive")]
)
def test_status_mapping(ours: str, theirs: str) -> None:
    assert export(consent(), ours)[1].status == theirs


def test_a_round_trip_through_the_model_keeps_the_resource() -> None:
    resource, fhir = export(consent(provision(0, people=[LEE], roles=["prescriber"], classes=["substance_use"])))

    again = FhirConsent.model_validate_json(fhir.model_dump_json())
    assert again.model_dump() == fhir.model_dump()
    assert again.provision.provision[0].class_fhir[-1].code == "ETH"
    assert resource["provision"]["provision"][0]["class"][-1]["code"] == "ETH"


def test_refuses_what_it_cannot_export_faithfully() -> None:
    with pytest.raises(ValueError, match="unknown consent status"):
        consent_resource(consent(), status="withdrawn", base_url=BASE_URL, people={}, team_roles={})
    with pytest.raises(ValueError, match="revocation"):
        consent_resource(consent(), status="revoked", base_url=BASE_URL, people={}, team_roles={})
    with pytest.raises(ValueError, match="time zone"):
        consent_resource(
            consent(signed_at=dt.datetime(2026, 3, 3, 15, 0)),
            status="active",
            base_url=BASE_URL,
            people={},
            team_roles={},
        )
