"""Input and output shapes of the consent capability."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from conference.consent.policy import ExpiryEvent, Purpose

SignerName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SignerKind = Literal["patient", "representative"]
RevokedBy = Literal["patient", "representative", "clinician"]
RevocationMethod = Literal["online", "in_person", "in_writing", "by_phone"]


class ProvisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """On a deny, empty lists mean "any"; a permit must name purposes and recipients."""

    type: Literal["permit", "deny"] = "permit"
    purposes: list[Purpose] = msgspec.field(default_factory=list)
    person_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    team_roles: list[str] = msgspec.field(default_factory=list)
    # Plain strings, so that asking for psychotherapy notes gets its own explanation.
    classes: list[str] = msgspec.field(default_factory=lambda: ["general"])


class ConsentTerms(msgspec.Struct, forbid_unknown_fields=True):
    provisions: list[ProvisionIn]
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    expires_on: ExpiryEvent | None = None


class PatientSignature(msgspec.Struct, forbid_unknown_fields=True):
    """What a patient posts to sign: the terms, the hash of the text they read, their typed name."""

    terms: ConsentTerms
    text_sha256: Annotated[str, msgspec.Meta(min_length=64, max_length=64)]
    signer_name: SignerName
    agree: bool
    signer_kind: SignerKind = "patient"
    representative_relationship: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class InPersonConsent(msgspec.Struct, forbid_unknown_fields=True):
    """Recorded by a clinician who watched the patient (or representative) sign on paper."""

    terms: ConsentTerms
    signer_name: SignerName
    signed_on: dt.date
    attest: bool
    signer_kind: SignerKind = "patient"
    representative_relationship: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class RevocationIn(msgspec.Struct, forbid_unknown_fields=True):
    revoked_by: RevokedBy = "patient"
    method: RevocationMethod = "in_person"
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class ProvisionOut(msgspec.Struct):
    type: str
    purposes: list[str]
    person_ids: list[uuid.UUID]
    team_roles: list[str]
    classes: list[str]


class ConsentOut(msgspec.Struct):
    id: uuid.UUID
    patient_id: uuid.UUID
    status: Literal["active", "not_yet_active", "expired", "revoked"]
    signer_kind: str
    signer_name: str
    signature_method: str
    attested_by_id: uuid.UUID | None
    signed_at: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    expires_on: str | None
    form_version: str
    agreed_text_sha256: str
    provisions: list[ProvisionOut]
    revoked_at: dt.datetime | None
    revoked_by: str | None
    revocation_method: str | None


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    """A question for the policy about a planned action."""

    action: Literal["joint_session", "case_review", "admit", "share_minutes", "record"]
    person_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1)]
    classes: list[str] = msgspec.field(default_factory=lambda: ["general"])
    at: dt.datetime | None = None


class GapOut(msgspec.Struct):
    person_id: uuid.UUID
    name: str
    purpose: str
    information: str
    message: str


class DecisionOut(msgspec.Struct):
    permitted: bool
    message: str
    gaps: list[GapOut]
    relied_on: list[uuid.UUID]
    redisclosure_notice_required: bool
    fix_url: str | None
