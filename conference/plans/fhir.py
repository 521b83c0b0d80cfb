"""Plan versions as FHIR R4 CarePlan resources, approvals as Provenance. Pure: no I/O, no framework.

A plan version is a CarePlan whose ``replaces`` points at the version before it. Problems and goals
travel inside it as contained Condition and Goal resources; each objective is one of its goal's
targets (measure, target, due date), with its own words in an extension. Interventions and
medications are activities; so is the crisis and escalation plan. Our own codes (care-team roles,
approval decisions) are published under the service's base URL, as for consents.

An approval is a Provenance whose signature carries the SHA-256 of the exact revision content the
approver reviewed, so anyone holding the revision can check what was signed.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from conference.people.roles import TeamRole
from conference.plans.content import Goal, Intervention, Medication, Objective, PlanContent
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval

CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
UCUM = "http://unitsofmeasure.org"

# ASTM E1762 signature types: approving verifies the change; rejecting is a review that refuses it.
_SIGNATURE = {
    "approved": ("1.2.840.10065.1.12.1.5", "Verification Signature"),
    "rejected": ("1.2.840.10065.1.12.1.13", "Review Signature"),
}


def care_plan_resource(
    version: PlanVersion,
    content: PlanContent,
    *,
    patient_id: uuid.UUID,
    current: bool,
    replaces_id: uuid.UUID | None,
    base_url: str,
    people: Mapping[uuid.UUID, str],
) -> dict[str, Any]:
    """One plan version. A version that a later one replaced is ``revoked``: it no longer applies."""
    base = base_url.rstrip("/")
    patient = {"reference": f"Patient/{patient_id}"}
    contained: list[dict[str, Any]] = [
        {
            "resourceType": "Condition",
            "id": problem.id,
            "clinicalStatus": _concept(CONDITION_CLINICAL, "active", "Active"),
            "category": [_concept(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
            "code": {"text": problem.text},
            "subject": patient,
        }
        for problem in content.problems
    ]
    contained += [_goal(goal, patient, base) for goal in content.goals]
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": str(version.id),
        "extension": [
            {
                "url": f"{base}/fhir/StructureDefinition/review-interval",
                "valueDuration": {"value": content.review_every_days, "unit": "days", "system": UCUM, "code": "d"},
            }
        ],
        "identifier": [{"system": f"{base}/fhir/plan-version", "value": f"{version.plan_id}/{version.number}"}],
        "status": "active" if current else "revoked",
        "intent": "plan",
        "title": f"Treatment plan, version {version.number}",
        "subject": patient,
        "created": _datetime(version.created_at),
        "author": _practitioner(version.created_by_id, people),
    }
    if contained:
        resource["contained"] = contained
    if replaces_id is not None:
        resource["replaces"] = [{"reference": f"CarePlan/{replaces_id}"}]
    if content.problems:
        resource["addresses"] = [
            {"reference": f"#{problem.id}", "display": problem.text} for problem in content.problems
        ]
    if content.goals:
        resource["goal"] = [{"reference": f"#{goal.id}", "display": goal.text} for goal in content.goals]
    activities = [_intervention(item, base) for item in content.interventions]
    activities += [_medication(item, people) for item in content.medications]
    crisis = _crisis_plan(content, people)
    if crisis is not None:
        activities.append(crisis)
    if activities:
        resource["activity"] = activities
    return resource


def provenance_resource(
    approval: RevisionApproval,
    *,
    revision: PlanRevision,
    target_version_id: uuid.UUID | None,
    base_url: str,
    people: Mapping[uuid.UUID, str],
) -> dict[str, Any]:
    """One signed decision. Its target is the plan version the revision became, once applied;
    before that, the revision itself, named by identifier (it is not a FHIR resource of its own)."""
    base = base_url.rstrip("/")
    if target_version_id is not None:
        target: dict[str, Any] = {"reference": f"CarePlan/{target_version_id}"}
    else:
        target = {
            "type": "CarePlan",
            "identifier": {"system": f"{base}/fhir/plan-revision", "value": str(revision.id)},
            "display": "Proposed treatment plan revision",
        }
    who = _practitioner(approval.person_id, people)
    code, display = _SIGNATURE[approval.decision]
    resource: dict[str, Any] = {"resourceType": "Provenance", "id": str(approval.id)}
    if approval.voided_at is not None:
        resource["extension"] = [
            {
                "url": f"{base}/fhir/StructureDefinition/approval-voided",
                "extension": [
                    {"url": "at", "valueDateTime": _datetime(approval.voided_at)},
                    {"url": "reason", "valueString": approval.voided_reason or "the revision changed"},
                ],
            }
        ]
    resource |= {
        "target": [target],
        "occurredDateTime": _datetime(approval.signed_at),
        "recorded": _datetime(approval.signed_at),
        "activity": _concept(
            f"{base}/fhir/CodeSystem/plan-approval", approval.decision, approval.decision.capitalize()
        ),
        "agent": [
            {
                "type": _concept(PROVENANCE_PARTICIPANT, "attester", "Attester"),
                "role": [
                    _concept(
                        f"{base}/fhir/CodeSystem/care-team-role", approval.required_as, _label(approval.required_as)
                    )
                ],
                "who": who,
            }
        ],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": f"{base}/fhir/plan-revision-content", "value": approval.content_hash},
                    "display": f"Revision content against plan version {revision.base_version}",
                },
            }
        ],
        "signature": [
            {
                "type": [{"system": SIGNATURE_TYPE, "code": code, "display": display}],
                "when": _datetime(approval.signed_at),
                "who": who,
                "targetFormat": "application/json",
                "sigFormat": "application/octet-stream",
                # The raw SHA-256 of the revision's canonical JSON ({base_version, changes}).
                "data": base64.b64encode(bytes.fromhex(approval.content_hash)).decode("ascii"),
            }
        ],
    }
    if approval.reason:
        resource["reason"] = [{"text": approval.reason}]
    return resource


def bundle(resources: Sequence[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """A collection of resources, each with its full URL."""
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{base}/fhir/{resource['resourceType']}/{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }


# ---- parts --------------------------------------------------------------------------------------


def _goal(goal: Goal, patient: dict[str, Any], base: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "id": goal.id,
        "lifecycleStatus": "active",
        "description": {"text": goal.text},
        "subject": patient,
    }
    if goal.objectives:
        resource["target"] = [_objective(objective, base) for objective in goal.objectives]
    return resource


def _objective(objective: Objective, base: str) -> dict[str, Any]:
    target: dict[str, Any] = {
        "id": objective.id,
        "extension": [{"url": f"{base}/fhir/StructureDefinition/objective-text", "valueString": objective.text}],
        "measure": {"text": objective.measure},
        "detailString": objective.target,
    }
    if objective.due is not None:
        target["dueDate"] = objective.due.isoformat()
    return target


def _intervention(item: Intervention, base: str) -> dict[str, Any]:
    return {
        "id": item.id,
        "detail": {
            "extension": [
                {
                    "url": f"{base}/fhir/StructureDefinition/performer-care-team-role",
                    "valueCoding": {
                        "system": f"{base}/fhir/CodeSystem/care-team-role",
                        "code": item.who,
                        "display": _label(item.who),
                    },
                }
            ],
            "code": {"text": item.text},
            "status": "in-progress",
            "scheduledString": item.frequency,
            "description": f"{item.text} ({_label(item.who).lower()}, {item.frequency})",
        },
    }


def _medication(item: Medication, people: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    words = f"{item.name} {item.dose}" + (f"; {item.instructions}" if item.instructions else "")
    detail: dict[str, Any] = {
        "kind": "MedicationRequest",
        "status": "in-progress",
        "productCodeableConcept": {"text": item.name},
        "description": words,
    }
    if item.prescriber_id is not None:
        detail["performer"] = [_practitioner(item.prescriber_id, people)]
    return {"id": item.id, "detail": detail}


def _crisis_plan(content: PlanContent, people: Mapping[uuid.UUID, str]) -> dict[str, Any] | None:
    crisis = content.crisis_plan
    if not (crisis.patient_calls or crisis.escalate_when or crisis.lead_person_id):
        return None
    detail: dict[str, Any] = {
        "code": {"text": "Crisis and escalation plan"},
        "status": "in-progress",
        "description": (
            f"The patient calls: {crisis.patient_calls or 'not said'}. "
            f"Escalate when: {crisis.escalate_when or 'not said'}."
        ),
    }
    if crisis.lead_person_id is not None:
        detail["performer"] = [_practitioner(crisis.lead_person_id, people)]
    return {"id": "crisis-plan", "detail": detail}


def _label(team_role: str) -> str:
    try:
        return TeamRole(team_role).label
    except ValueError:
        return team_role.replace("_", " ").capitalize()


def _practitioner(person_id: uuid.UUID, people: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"Practitioner/{person_id}"}
    name = people.get(person_id)
    if name is not None:
        reference["display"] = name
    return reference


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _datetime(moment: dt.datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.isoformat()
