"""Who must approve a plan revision. Pure: no I/O and no framework.

An admin configures rules; each says "when a revision is (or contains) this, the person in this
care-team role must approve it". With no rules stored, the defaults apply: a medication change needs
the prescriber, a high-risk change or a crisis-plan change the medical director, and every revision
the primary therapist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from conference.people.roles import TeamRole
from conference.plans import changes as plan_changes
from conference.plans.changes import Change


class Trigger(StrEnum):
    ANY_REVISION = "any_revision"
    MEDICATION_CHANGE = "medication_change"
    CRISIS_PLAN_CHANGE = "crisis_plan_change"
    HIGH_RISK = "high_risk"

    @property
    def label(self) -> str:
        return _TRIGGER_LABELS[self]


_TRIGGER_LABELS = {
    Trigger.ANY_REVISION: "every revision",
    Trigger.MEDICATION_CHANGE: "a medication change",
    Trigger.CRISIS_PLAN_CHANGE: "a crisis plan change",
    Trigger.HIGH_RISK: "a high-risk change",
}


@dataclass(frozen=True)
class ApprovalRule:
    when: Trigger
    approver: TeamRole


DEFAULT_RULES: tuple[ApprovalRule, ...] = (
    ApprovalRule(Trigger.MEDICATION_CHANGE, TeamRole.PRESCRIBER),
    ApprovalRule(Trigger.HIGH_RISK, TeamRole.MEDICAL_DIRECTOR),
    ApprovalRule(Trigger.CRISIS_PLAN_CHANGE, TeamRole.MEDICAL_DIRECTOR),
    ApprovalRule(Trigger.ANY_REVISION, TeamRole.PRIMARY_THERAPIST),
)


@dataclass(frozen=True)
class Requirement:
    """One approval a revision needs: from whoever holds ``approver``, because of ``reasons``."""

    approver: TeamRole
    reasons: tuple[Trigger, ...]

    @property
    def why(self) -> str:
        """E.g. "a medication change and a high-risk change"."""
        labels = [reason.label for reason in self.reasons]
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


class RuleProblem(ValueError):
    def __init__(self, index: int | None, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


def applies(trigger: Trigger, changes: Sequence[Change]) -> bool:
    match trigger:
        case Trigger.ANY_REVISION:
            return True
        case Trigger.MEDICATION_CHANGE:
            return plan_changes.touches_medication(changes)
        case Trigger.CRISIS_PLAN_CHANGE:
            return plan_changes.touches_crisis_plan(changes)
        case Trigger.HIGH_RISK:
            return plan_changes.is_high_risk(changes)
    raise ValueError(f"unknown trigger {trigger!r}")


def required_approvals(rules: Sequence[ApprovalRule], changes: Sequence[Change]) -> list[Requirement]:
    """One requirement per approver role, in the order the rules first name it, with every reason."""
    reasons: dict[TeamRole, list[Trigger]] = {}
    for rule in rules:
        if applies(rule.when, changes):
            found = reasons.setdefault(rule.approver, [])
            if rule.when not in found:
                found.append(rule.when)
    return [Requirement(approver, tuple(why)) for approver, why in reasons.items()]


def validate_rules(rules: Sequence[ApprovalRule]) -> list[ApprovalRule]:
    """The rules an admin asked for, without repeats; raises ``RuleProblem`` when they cannot work."""
    unique: list[ApprovalRule] = []
    for index, rule in enumerate(rules):
        if rule.approver is TeamRole.OTHER:
            raise RuleProblem(
                index,
                f"Rule {index + 1}: 'other' is not one person's role; choose the role that must approve, "
                "such as prescriber or medical_director.",
            )
        if rule not in unique:
            unique.append(rule)
    if not any(rule.when is Trigger.ANY_REVISION for rule in unique):
        raise RuleProblem(
            None,
            "Keep a rule for any_revision, so that every change to a treatment plan is approved by someone "
            "(the default is the primary therapist).",
        )
    return unique
