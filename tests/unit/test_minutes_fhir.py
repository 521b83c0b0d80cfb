"""Final minutes exported as FHIR R4 Composition resources, checked against the R4B models
(Composition is the same in R4 for everything used here)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.composition import Composition

from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.minutes import content
from conference.minutes.fhir import composition_resource
from conference.minutes.models import Minutes

BASE_URL = "https://clinic.example/"
PATIENT = uuid.uuid4()
MEETING = uuid.uuid4()
THERAPIST = uuid.uuid4()
PRESCRIBER = uuid.uuid4()
PEOPLE = {THERAPIST: "Theo Therapist", PRESCRIBER: "Priya Prescriber"}
OCCURRENCE = dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC)
SIGNED = dt.datetime(2026, 3, 3, 16, 5, 7, tzinfo=dt.UTC)


def raw(**changes: Any) -> dict[str, Any]:
    minutes: dict[str, Any] = {
        "attendees": [
            {"name": "Theo Therapist", "person_id": str(THERAPIST), "role": "primary_therapist", "minutes_present": 45},
            {"name": "Pat <Patient>", "patient": True, "role": "patient", "minutes_present": 40},
        ],
        "agenda_items": [{"title": "Mood & sleep", "discussion": "Sleeping better."}],
        "measures": [{"instrument": "phq9", "score": 14, "administered_on": "2026-03-01"}],
        "decisions": ["Increase the dose."],
        "action_items": [{"text": "Call the pharmacy", "owner_id": str(PRESCRIBER), "due_on": "2026-03-10"}],
        "risk_flags": [{"kind": "suicide_risk", "level": "low", "note": "Passive thoughts only."}],
        "proposed_changes": [
            {"op": "add_medication", "name": "sertraline", "dose": "50 mg daily", "high_risk": True, "reason": "PHQ-9"}
        ],
        "next_review_on": "2026-04-01",
    }
    minutes.update(changes)
    return minutes


def final(data: dict[str, Any], *, amends: uuid.UUID | None = None) -> tuple[Minutes, content.MinutesContent]:
    decoded = content.decode(data)
    minutes = Minutes(
        id=uuid.uuid4(),
        meeting_id=MEETING,
        occurrence_start=OCCURRENCE,
        patient_id=PATIENT,
        status="final",
        content=content.encode(decoded),
        author_id=THERAPIST,
        updated_by_id=THERAPIST,
        document_version=2 if amends else 1,
        amends_id=amends,
        signed_by_id=THERAPIST,
        signed_at=SIGNED,
        content_hash="ab" * 32,
    )
    return minutes, decoded


def export(minutes: Minutes, decoded: content.MinutesContent, kind: str = "case_review") -> dict[str, Any]:
    resource = composition_resource(minutes, decoded, base_url=BASE_URL, people=PEOPLE, meeting_kind=kind)
    Composition.model_validate(resource)  # raises when the resource is not valid R4
    return resource


def section(resource: dict[str, Any], title: str) -> str:
    (found,) = [item for item in resource["section"] if item["title"] == title]
    div: str = found["text"]["div"]
    return div


def test_final_minutes_are_a_valid_composition_attested_by_their_signer() -> None:
    minutes, decoded = final(raw())
    resource = export(minutes, decoded)
    assert resource["status"] == "final"
    assert resource["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert resource["date"] == SIGNED.isoformat()
    assert resource["author"] == [{"reference": f"Practitioner/{THERAPIST}", "display": "Theo Therapist"}]
    assert resource["attester"] == [
        {
            "mode": "legal",
            "time": SIGNED.isoformat(),
            "party": {"reference": f"Practitioner/{THERAPIST}", "display": "Theo Therapist"},
        }
    ]
    assert resource["title"] == "Minutes of a case review"
    assert resource["confidentiality"] == "N"
    assert "meta" not in resource and "relatesTo" not in resource
    assert {"url": "https://clinic.example/fhir/StructureDefinition/content-sha256", "valueString": "ab" * 32} in (
        resource["extension"]
    )
    assert resource["event"] == [{"period": {"start": OCCURRENCE.isoformat()}}]


def test_every_part_of_the_minutes_is_a_section_in_words() -> None:
    minutes, decoded = final(raw())
    resource = export(minutes, decoded)
    assert [item["title"] for item in resource["section"]] == [
        "Attendees",
        "Agenda and discussion",
        "Measures reviewed",
        "Decisions",
        "Action items",
        "Proposed plan changes",
        "Risk flags",
        "Next review",
    ]
    # Text is escaped into the XHTML narrative.
    assert "Pat &lt;Patient&gt; (Patient), 40 min" in section(resource, "Attendees")
    assert "Theo Therapist (Primary therapist), 45 min" in section(resource, "Attendees")
    assert "Mood &amp; sleep: Sleeping better." in section(resource, "Agenda and discussion")
    assert "PHQ-9: 14, given 1 March 2026" in section(resource, "Measures reviewed")
    assert "Call the pharmacy; owner: Priya Prescriber; due 10 March 2026" in section(resource, "Action items")
    assert "Added, medication: sertraline 50 mg daily (high risk). Reason: PHQ-9" in section(
        resource, "Proposed plan changes"
    )
    assert "Suicide risk (low): Passive thoughts only." in section(resource, "Risk flags")
    assert "1 April 2026" in section(resource, "Next review")


def test_empty_sections_are_left_out() -> None:
    minutes, decoded = final(
        raw(agenda_items=[], measures=[], decisions=[], action_items=[], risk_flags=[], proposed_changes=[])
    )
    resource = export(minutes, decoded, kind="joint_session")
    assert [item["title"] for item in resource["section"]] == ["Attendees", "Next review"]
    assert resource["title"] == "Minutes of a joint session"


def test_substance_use_minutes_are_restricted_labelled_and_carry_the_notice() -> None:
    minutes, decoded = final(raw(includes_substance_use=True))
    resource = export(minutes, decoded)
    assert resource["confidentiality"] == "R"
    codes = {(label["system"].rsplit("/", 1)[1], label["code"]) for label in resource["meta"]["security"]}
    assert codes == {
        ("v3-Confidentiality", "R"),
        ("v3-ActCode", "42CFRPart2"),
        ("v3-ActCode", "ETH"),
        ("v3-ActCode", "NORDSCLCD"),
    }
    notice = resource["section"][-1]
    assert notice["title"] == "Notice of redisclosure (42 CFR Part 2)"
    assert notice["text"]["div"] == f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{REDISCLOSURE_NOTICE}</p></div>'


def test_an_amendment_replaces_the_version_it_amends() -> None:
    original = uuid.uuid4()
    minutes, decoded = final(raw(), amends=original)
    resource = export(minutes, decoded)
    assert resource["status"] == "amended"
    assert resource["relatesTo"] == [{"code": "replaces", "targetReference": {"reference": f"Composition/{original}"}}]
    assert resource["title"] == "Minutes of a case review, amendment 1"
    assert {"url": "https://clinic.example/fhir/StructureDefinition/document-version", "valueInteger": 2} in (
        resource["extension"]
    )


def test_a_draft_is_not_exported() -> None:
    minutes, decoded = final(raw())
    minutes.status, minutes.signed_at, minutes.signed_by_id = "draft", None, None
    with pytest.raises(ValueError, match="only final"):
        composition_resource(minutes, decoded, base_url=BASE_URL, people=PEOPLE, meeting_kind="case_review")
