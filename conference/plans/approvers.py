"""Who must approve a revision, and who can: the rules in force, where each approval stands, notices.

Who can give an approval is decided when it is given: whoever then holds the required care-team
role (or, for a medical director's approval with none on the team, any medical director). What a
revision requires is fixed when its content is set, so a rule changed later does not move the
goalposts of a revision already out for approval.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conference import mail, signing
from conference.people.models import Patient, Person, PersonRole
from conference.people.roles import Role, TeamRole
from conference.plans import access
from conference.plans.changes import Change
from conference.plans.models import PlanRevision, RevisionApproval, StoredApprovalRule
from conference.plans.rules import DEFAULT_RULES, ApprovalRule, Requirement, Trigger, required_approvals
from conference.settings import Settings

APPROVAL_SUBJECT = "A treatment plan change is waiting for your approval"


@dataclass(frozen=True)
class RuleSet:
    rules: list[ApprovalRule]
    is_default: bool

    @property
    def version(self) -> str:
        """Changes whenever the rules do; a replacement must name the version it replaces."""
        return signing.content_hash([[rule.when.value, rule.approver.value] for rule in self.rules])[:16]


@dataclass(frozen=True)
class RequirementState:
    """One approval a revision needs, and where it stands."""

    requirement: Requirement
    decision: RevisionApproval | None
    holders: list[Person]

    @property
    def status(self) -> Literal["waiting", "approved", "rejected"]:
        if self.decision is None:
            return "waiting"
        return "approved" if self.decision.decision == "approved" else "rejected"


async def current_rules(session: AsyncSession) -> RuleSet:
    rows = list(await session.scalars(select(StoredApprovalRule).order_by(StoredApprovalRule.position)))
    if not rows:
        return RuleSet(list(DEFAULT_RULES), is_default=True)
    return RuleSet([ApprovalRule(Trigger(row.applies_when), TeamRole(row.approver)) for row in rows], is_default=False)


async def requirements_for(session: AsyncSession, changes: Sequence[Change]) -> list[Requirement]:
    """The approvals these changes need under the rules in force now."""
    return required_approvals((await current_rules(session)).rules, changes)


def encode_requirements(requirements: Sequence[Requirement]) -> list[dict[str, Any]]:
    return [
        {"approver": item.approver.value, "reasons": [reason.value for reason in item.reasons]} for item in requirements
    ]


def stored_requirements(revision: PlanRevision) -> list[Requirement]:
    return [
        Requirement(TeamRole(item["approver"]), tuple(Trigger(reason) for reason in item["reasons"]))
        for item in revision.requirements
    ]


async def holders(session: AsyncSession, patient: Patient, role: TeamRole) -> list[Person]:
    """Who can give the approval ``role`` requires, now."""
    found = access.team_holders(patient, role)
    if role is TeamRole.MEDICAL_DIRECTOR and not found:
        found = list(
            await session.scalars(
                select(Person)
                .join(PersonRole, PersonRole.person_id == Person.id)
                .where(PersonRole.role == Role.MEDICAL_DIRECTOR.value, Person.active.is_(True))
                .order_by(Person.name)
            )
        )
    return found


async def requirement_states(
    session: AsyncSession, patient: Patient, revision: PlanRevision, live: Sequence[RevisionApproval]
) -> list[RequirementState]:
    decided = {approval.required_as: approval for approval in live}
    return [
        RequirementState(item, decided.get(item.approver.value), await holders(session, patient, item.approver))
        for item in stored_requirements(revision)
    ]


async def live_approvals(session: AsyncSession, revision_id: uuid.UUID) -> list[RevisionApproval]:
    return list(
        await session.scalars(
            select(RevisionApproval)
            .where(RevisionApproval.revision_id == revision_id, RevisionApproval.voided_at.is_(None))
            .order_by(RevisionApproval.signed_at)
            .execution_options(populate_existing=True)
        )
    )


def who_must_approve(states: Sequence[RequirementState]) -> str:
    parts = []
    for state in states:
        names = ", ".join(person.name for person in state.holders) or "nobody holds this role yet"
        parts.append(f"the {state.requirement.approver.label.lower()} ({names}), for {state.requirement.why}")
    return "; ".join(parts)


async def notify(
    session: AsyncSession,
    revision: PlanRevision,
    patient: Patient,
    author_id: uuid.UUID,
    settings: Settings | None,
) -> int:
    """Email everyone who can give one of the revision's approvals (but its author), once per content.

    Without ``settings`` (a caller outside a request), the environment's address the message.
    """
    config = settings or Settings.from_env()
    roles_by_person: dict[uuid.UUID, tuple[Person, list[TeamRole]]] = {}
    for requirement in stored_requirements(revision):
        for person in await holders(session, patient, requirement.approver):
            roles_by_person.setdefault(person.id, (person, []))[1].append(requirement.approver)
    sent = 0
    for person, roles in roles_by_person.values():
        if person.id == author_id or not person.email:
            continue
        message = _message(config, person, roles)
        key = f"plan-approval:{revision.id}:{revision.content_hash}:{person.id}"
        sent += await mail.enqueue(session, message, dedupe_key=key)
    return sent


def _message(settings: Settings, person: Person, roles: Sequence[TeamRole]) -> EmailMessage:
    """No patient name, no plan content: only that something waits, and where to sign in to see it."""
    as_roles = " and ".join(f"the patient's {role.label.lower()}" for role in roles)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((person.name, person.email))
    message["Subject"] = APPROVAL_SUBJECT
    message["Message-ID"] = make_msgid(domain="case-conference")
    message.set_content(
        f"Hello {person.name},\n\n"
        f"A change to a treatment plan is waiting for your approval as {as_roles}.\n\n"
        f"Sign in to review it: {settings.public_base_url}/approvals\n\n"
        "For privacy, this message says nothing about the patient or the change.\n"
    )
    return message
