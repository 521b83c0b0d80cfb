"""The consent form in plain language, and the Part 2 redisclosure notice. Pure.

The text a patient reads is produced from their choices, so what they sign says exactly what the
record permits. Its SHA-256 is stored with the consent; a change to this wording is a new form
version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from conference.consent.policy import ExpiryEvent, InformationClass, Purpose

FORM_VERSION = "care-conference-consent/1"

REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony that "
    "describes the information contained in this record, in any civil, criminal, administrative, or "
    "legislative proceedings by any Federal, State, or local authority, against the patient, unless "
    "authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) or as authorized "
    "by a court in accordance with 42 CFR 2.64 or 2.65. In addition, the Federal rules prohibit you from "
    "making any other use or disclosure of this record unless at least one of the following applies: "
    "further use or disclosure is expressly permitted by the written consent of the individual whose "
    "information is being disclosed in this record or as otherwise permitted by 42 CFR part 2; you are a "
    "covered entity or business associate and have received the record for treatment, payment, or health "
    "care operations; or you have received the record from a covered entity or business associate as "
    "permitted by 45 CFR part 164, subparts A and E. A general authorization for the release of medical or "
    "other information is NOT sufficient to meet the required elements of written consent to further use "
    "or redisclose the record (see 42 CFR 2.31)."
)

_PURPOSE_SENTENCES = {
    Purpose.JOINT_SESSION: "meet with me together by video (joint sessions), where they will discuss my care",
    Purpose.CASE_REVIEW: "meet without me (case reviews) to discuss my care and plan my treatment",
    Purpose.SHARE_MINUTES: "receive the written minutes of those meetings",
    Purpose.RECORDING: "record those meetings (audio and video)",
}

_CLASS_SENTENCES = {
    InformationClass.GENERAL: "general information about my treatment: my diagnoses, goals, progress and plan",
    InformationClass.MEDICATION: "information about my medications: what I take, doses, changes and side effects",
    InformationClass.SUBSTANCE_USE: (
        "records of my substance use disorder treatment, which federal law (42 CFR Part 2) protects: "
        "diagnoses, treatment, progress and medications for substance use"
    ),
}


@dataclass(frozen=True)
class Recipient:
    name: str
    role: str


@dataclass(frozen=True)
class FormChoices:
    patient_name: str
    clinic_name: str
    recipients: Sequence[Recipient]
    purposes: frozenset[Purpose]
    classes: frozenset[InformationClass]
    starts_on: dt.date
    ends_on: dt.date | None
    expires_on: ExpiryEvent | None
    excluded: Sequence[Recipient] = ()


def consent_text(choices: FormChoices) -> str:
    """The whole form, as the patient reads and signs it."""
    purposes = [purpose for purpose in Purpose if purpose in choices.purposes]
    classes = [information for information in InformationClass if information in choices.classes]
    lines = [
        "Consent to share information within my care team",
        f"Form {FORM_VERSION}",
        "",
        f"I, {choices.patient_name}, allow {choices.clinic_name} and the members of my care team named below "
        "to share information about me with each other, for the purposes below.",
        "",
        "Who may share and receive my information:",
        *(f"  - {recipient.name} ({recipient.role})" for recipient in choices.recipients),
    ]
    if choices.excluded:
        lines += [
            "",
            "Who may NOT receive my information, whatever else this form says:",
            *(f"  - {person.name} ({person.role})" for person in choices.excluded),
        ]
    lines += [
        "",
        "What they may do:",
        *(f"  - {_PURPOSE_SENTENCES[purpose]}" for purpose in purposes),
        "",
        "What information they may share (and no more than is needed for these purposes):",
        *(f"  - {_CLASS_SENTENCES[information]}" for information in classes),
        "  - Psychotherapy notes (my therapist's private session notes) are never shared under this form.",
        "",
        f"This consent starts on {_day(choices.starts_on)} and ends {_ending(choices)}.",
        "",
        "My right to change my mind: I can revoke this consent at any time, for any reason, by choosing "
        '"Revoke" next to it on my care team\'s page (from the link my care team sends me), or by telling '
        "any member of my care team in person, by phone or in writing. Revoking stops future sharing at once; "
        "it cannot undo sharing that already happened while my consent was in place.",
        "",
        "My treatment does not depend on signing this form: I can say no, and I will still receive care.",
    ]
    if InformationClass.SUBSTANCE_USE in choices.classes:
        lines += [
            "",
            "Substance use records (42 CFR Part 2): my records may be disclosed only to the people named above, "
            "only for the purposes above, and only the kinds of information listed. Anyone who receives them "
            "will be given this notice with every disclosure:",
            "",
            REDISCLOSURE_NOTICE,
        ]
    return "\n".join(lines) + "\n"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _ending(choices: FormChoices) -> str:
    endings = []
    if choices.ends_on:
        endings.append(f"on {_day(choices.ends_on)}")
    if choices.expires_on:
        endings.append(f"at {choices.expires_on.label}")
    if not endings:
        return "only when I revoke it"
    return (
        (" or ".join(endings))
        + (", whichever comes first" if len(endings) > 1 else "")
        + (", unless I revoke it sooner")
    )
