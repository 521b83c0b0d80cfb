"""Which approvals a revision needs, under the default rules and under rules an admin set."""

from __future__ import annotations

from typing import Any

import pytest

from conference.people.roles import TeamRole
from conference.plans.changes import decode_changes
from conference.plans.rules import (
    DEFAULT_RULES,
    ApprovalRule,
    Requirement,
    RuleProblem,
    Trigger,
    required_approvals,
    validate_rules,
)

PROBLEM = {"op": "add_problem", "text": "Poor sleep"}
MEDICATION = {"op": "change_medication", "id": "m1", "name": "Sertraline", "dose": "100 mg daily"}
CRISIS = {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "plan or intent"}
FLAGGED = {"op": "add_goal", "text": "Stop drinking", "high_risk": True}


def needed(*raw: dict[str, Any], rules: tuple[ApprovalRule, ...] = DEFAULT_RULES) -> list[Requirement]:
    return required_approvals(rules, decode_changes(list(raw)))


def test_every_revision_needs_the_primary_therapist() -> None:
    assert needed(PROBLEM) == [Requirement(TeamRole.PRIMARY_THERAPIST, (Trigger.ANY_REVISION,))]


def test_a_medication_change_also_needs_the_prescriber() -> None:
    assert needed(PROBLEM, MEDICATION) == [
        Requirement(TeamRole.PRESCRIBER, (Trigger.MEDICATION_CHANGE,)),
        Requirement(TeamRole.PRIMARY_THERAPIST, (Trigger.ANY_REVISION,)),
    ]


def test_high_risk_and_crisis_plan_changes_need_the_medical_director_once_with_both_reasons() -> None:
    found = needed(FLAGGED, CRISIS)
    assert [item.approver for item in found] == [TeamRole.MEDICAL_DIRECTOR, TeamRole.PRIMARY_THERAPIST]
    director = found[0]
    assert director.reasons == (Trigger.HIGH_RISK, Trigger.CRISIS_PLAN_CHANGE)
    assert director.why == "a high-risk change and a crisis plan change"


def test_a_high_risk_medication_change_needs_all_three() -> None:
    found = needed({**MEDICATION, "high_risk": True})
    assert {item.approver for item in found} == {
        TeamRole.PRESCRIBER,
        TeamRole.MEDICAL_DIRECTOR,
        TeamRole.PRIMARY_THERAPIST,
    }


def test_an_admins_rules_replace_the_defaults() -> None:
    rules = (
        ApprovalRule(Trigger.ANY_REVISION, TeamRole.MEDICAL_DIRECTOR),
        ApprovalRule(Trigger.MEDICATION_CHANGE, TeamRole.MEDICAL_DIRECTOR),
        ApprovalRule(Trigger.CRISIS_PLAN_CHANGE, TeamRole.CASE_MANAGER),
    )
    assert needed(MEDICATION, rules=rules) == [
        Requirement(TeamRole.MEDICAL_DIRECTOR, (Trigger.ANY_REVISION, Trigger.MEDICATION_CHANGE))
    ]
    assert [item.approver for item in needed(CRISIS, rules=rules)] == [TeamRole.MEDICAL_DIRECTOR, TeamRole.CASE_MANAGER]
    assert needed(MEDICATION, rules=rules)[0].why == "every revision and a medication change"


def test_the_same_rule_twice_gives_its_reason_once() -> None:
    rules = (ApprovalRule(Trigger.ANY_REVISION, TeamRole.PRIMARY_THERAPIST),) * 2
    assert needed(PROBLEM, rules=rules) == [Requirement(TeamRole.PRIMARY_THERAPIST, (Trigger.ANY_REVISION,))]


def test_validation_drops_repeats_and_keeps_order() -> None:
    rule = ApprovalRule(Trigger.ANY_REVISION, TeamRole.PRIMARY_THERAPIST)
    other = ApprovalRule(Trigger.HIGH_RISK, TeamRole.PRESCRIBER)
    assert validate_rules([other, rule, other]) == [other, rule]
    assert validate_rules(DEFAULT_RULES) == list(DEFAULT_RULES)


def test_rules_must_cover_every_revision() -> None:
    with pytest.raises(RuleProblem, match="Keep a rule for any_revision") as caught:
        validate_rules([ApprovalRule(Trigger.MEDICATION_CHANGE, TeamRole.PRESCRIBER)])
    assert caught.value.index is None
    with pytest.raises(RuleProblem):
        validate_rules([])


def test_other_is_not_a_role_that_can_approve() -> None:
    with pytest.raises(RuleProblem, match="Rule 2: 'other' is not one person's role") as caught:
        validate_rules(
            [
                ApprovalRule(Trigger.ANY_REVISION, TeamRole.PRIMARY_THERAPIST),
                ApprovalRule(Trigger.HIGH_RISK, TeamRole.OTHER),
            ]
        )
    assert caught.value.index == 1
