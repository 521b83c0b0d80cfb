"""Plan versions as FHIR R4 CarePlan and approvals as Provenance, checked against the R4B models
(CarePlan, Goal, Condition and Provenance are the same in R4 for what is used here)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.provenance import Provenance

from conference.plans.changes import apply, decode_changes
from conference.plans.content import PlanContent, empty_plan, encode_content
from conference.plans.fhir import bundle, care_plan_resource, provenance_resource
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval
from conference.signing import content_hash

BASE_URL = "https://clinic.example/"
BASE = "https://clinic.example"
PATIENT = uuid.uuid4()
PLAN = uuid.uuid4()
AUTHOR = uuid.uuid4()
PRESCRIBER = uuid.uuid4()
LEAD = uuid.uuid4()
PEOPLE = {AUTHOR: "Theo Therapist", PRESCRIBER: "Dr. Park", LEAD: "Theo Therapist"}
CREATED = dt.datetime(2026, 3, 3, 15, 4, 5, tzinfo=dt.UTC)


def content() -> PlanContent:
    return apply(
        empty_plan(),
        decode_changes(
            [
                {"op": "add_problem", "text": "Low mood"},
                {
                    "op": "add_goal",
                    "text": "Return to work",
                    "objectives": [
                        {"text": "Mood improves", "measure": "PHQ-9", "target": "below 10", "due": "2026-06-01"},
                        {"text": "Goes out", "measure": "days a week", "target": "3"},
                    ],
                },
                {"op": "add_intervention", "text": "CBT", "who": "primary_therapist", "frequency": "weekly"},
                {
                    "op": "add_medication",
                    "name": "Sertraline",
                    "dose": "50 mg daily",
                    "prescriber_id": str(PRESCRIBER),
                    "instructions": "with food",
                },
                {
                    "op": "change_crisis_plan",
                    "lead_person_id": str(LEAD),
                    "patient_calls": "988",
                    "escalate_when": "any plan or intent",
                },
            ]
        ),
    )


def version(number: int, plan: PlanContent) -> PlanVersion:
    encoded = encode_content(plan)
    return PlanVersion(
        id=uuid.uuid4(),
        plan_id=PLAN,
        number=number,
        content=encoded,
        content_hash=content_hash(encoded),
        created_by_id=AUTHOR,
        created_at=CREATED,
        replaces_number=number - 1 if number > 1 else None,
        revision_id=None,
    )


def export(record: PlanVersion, plan: PlanContent, **options: Any) -> tuple[dict[str, Any], CarePlan]:
    values: dict[str, Any] = {
        "patient_id": PATIENT,
        "current": True,
        "replaces_id": None,
        "base_url": BASE_URL,
        "people": PEOPLE,
    }
    resource = care_plan_resource(record, plan, **(values | options))
    return resource, CarePlan.model_validate(resource)


def test_a_plan_version_is_a_valid_care_plan_with_its_goals_and_activities() -> None:
    plan = content()
    record = version(1, plan)
    resource, care_plan = export(record, plan)
    assert care_plan.status == "active" and care_plan.intent == "plan"
    assert resource["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert resource["identifier"][0]["value"] == f"{PLAN}/1"
    assert resource["author"] == {"reference": f"Practitioner/{AUTHOR}", "display": "Theo Therapist"}
    assert "replaces" not in resource
    contained = {item["id"]: item for item in resource["contained"]}
    assert contained["p1"]["resourceType"] == "Condition" and contained["p1"]["code"]["text"] == "Low mood"
    goal = contained["g1"]
    assert goal["description"]["text"] == "Return to work"
    assert [target["id"] for target in goal["target"]] == ["o1", "o2"]
    assert goal["target"][0]["measure"]["text"] == "PHQ-9"
    assert goal["target"][0]["detailString"] == "below 10"
    assert goal["target"][0]["dueDate"] == "2026-06-01"
    assert goal["target"][0]["extension"][0]["valueString"] == "Mood improves"
    assert [ref["reference"] for ref in resource["goal"]] == ["#g1"]
    assert [ref["reference"] for ref in resource["addresses"]] == ["#p1"]
    activities = {item["id"]: item["detail"] for item in resource["activity"]}
    assert activities["i1"]["scheduledString"] == "weekly"
    assert activities["i1"]["extension"][0]["valueCoding"]["code"] == "primary_therapist"
    assert activities["m1"]["kind"] == "MedicationRequest"
    assert activities["m1"]["productCodeableConcept"]["text"] == "Sertraline"
    assert activities["m1"]["description"] == "Sertraline 50 mg daily; with food"
    assert activities["m1"]["performer"] == [{"reference": f"Practitioner/{PRESCRIBER}", "display": "Dr. Park"}]
    assert activities["crisis-plan"]["performer"][0]["reference"] == f"Practitioner/{LEAD}"
    assert "988" in activities["crisis-plan"]["description"]
    assert resource["extension"][0]["valueDuration"]["value"] == 90
    assert resource["extension"][0]["url"] == f"{BASE}/fhir/StructureDefinition/review-interval"


def test_a_later_version_replaces_the_one_before_and_the_old_one_is_revoked() -> None:
    plan = content()
    first, second = version(1, empty_plan()), version(2, plan)
    resource, care_plan = export(second, plan, replaces_id=first.id)
    assert resource["replaces"] == [{"reference": f"CarePlan/{first.id}"}]
    assert care_plan.replaces is not None and care_plan.replaces[0].reference == f"CarePlan/{first.id}"
    old, _ = export(first, empty_plan(), current=False)
    assert old["status"] == "revoked"


def test_an_empty_plan_is_still_a_valid_care_plan() -> None:
    resource, _ = export(version(1, empty_plan()), empty_plan())
    assert not {"contained", "goal", "activity", "addresses"} & set(resource)


def revision(**fields: Any) -> PlanRevision:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "patient_id": PATIENT,
        "plan_id": PLAN,
        "base_version": 1,
        "changes": [],
        "summary": "More sertraline",
        "content_hash": "ab" * 32,
        "requirements": [],
        "status": "pending",
        "author_id": AUTHOR,
    }
    return PlanRevision(**(values | fields))


def approval(decision: str = "approved", **fields: Any) -> RevisionApproval:
    signed = hashlib.sha256(b"the revision's canonical json").hexdigest()
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "revision_id": uuid.uuid4(),
        "required_as": "prescriber",
        "person_id": PRESCRIBER,
        "decision": decision,
        "reason": None,
        "content_hash": signed,
        "signed_at": CREATED,
        "voided_at": None,
        "voided_reason": None,
    }
    return RevisionApproval(**(values | fields))


def provenance(record: RevisionApproval, target: uuid.UUID | None = None) -> tuple[dict[str, Any], Provenance]:
    resource = provenance_resource(
        record, revision=revision(), target_version_id=target, base_url=BASE_URL, people=PEOPLE
    )
    return resource, Provenance.model_validate(resource)


def test_an_approval_is_a_provenance_whose_signature_carries_the_signed_hash() -> None:
    record = approval()
    target = uuid.uuid4()
    resource, parsed = provenance(record, target)
    assert resource["target"] == [{"reference": f"CarePlan/{target}"}]
    signature = resource["signature"][0]
    assert signature["type"][0] == {
        "system": "urn:iso-astm:E1762-95:2013",
        "code": "1.2.840.10065.1.12.1.5",
        "display": "Verification Signature",
    }
    assert signature["who"] == {"reference": f"Practitioner/{PRESCRIBER}", "display": "Dr. Park"}
    assert signature["when"] == CREATED.isoformat()
    assert base64.b64decode(signature["data"]).hex() == record.content_hash
    assert parsed.signature is not None and parsed.signature[0].data is not None
    assert resource["agent"][0]["role"][0]["coding"][0]["code"] == "prescriber"
    assert resource["activity"]["coding"][0]["code"] == "approved"
    assert "reason" not in resource and "extension" not in resource


def test_before_it_is_applied_the_approval_points_at_the_revision() -> None:
    record = approval()
    resource, _ = provenance(record)
    assert resource["target"][0]["type"] == "CarePlan"
    assert resource["target"][0]["identifier"]["system"] == f"{BASE}/fhir/plan-revision"


def test_a_rejection_carries_its_reason_and_a_voided_decision_says_so() -> None:
    voided = CREATED + dt.timedelta(hours=1)
    resource, _ = provenance(
        approval(
            "rejected", reason="Check lithium levels first", voided_at=voided, voided_reason="the revision was edited"
        )
    )
    assert resource["reason"] == [{"text": "Check lithium levels first"}]
    assert resource["signature"][0]["type"][0]["display"] == "Review Signature"
    voiding = {item["url"]: item for item in resource["extension"][0]["extension"]}
    assert voiding["at"]["valueDateTime"] == voided.isoformat()
    assert voiding["reason"]["valueString"] == "the revision was edited"


def test_approvals_travel_together_as_a_bundle() -> None:
    first, _ = provenance(approval())
    second, _ = provenance(approval("rejected", reason="No"))
    collected = bundle([first, second], BASE_URL)
    parsed = Bundle.model_validate(collected)
    assert parsed.type == "collection"
    assert [entry["fullUrl"] for entry in collected["entry"]] == [
        f"{BASE}/fhir/Provenance/{first['id']}",
        f"{BASE}/fhir/Provenance/{second['id']}",
    ]


def test_times_without_a_zone_are_refused() -> None:
    record = version(1, empty_plan())
    record.created_at = dt.datetime(2026, 3, 3, 15, 4)
    with pytest.raises(ValueError, match="no time zone"):
        care_plan_resource(
            record, empty_plan(), patient_id=PATIENT, current=True, replaces_id=None, base_url=BASE_URL, people={}
        )
