"""Treatment-plan use cases: reading plans and revisions, starting a plan, proposing, editing and
rebasing revisions, the approver's queue, and the approval rules.

Who may see what is decided in ``access``; who must and who can approve in ``approvers``; signing
decisions and applying revisions in ``signoff``. Every read and change is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from conference import signing
from conference.audit import service as audit
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput, NotFound, StaleEdit, require_version
from conference.people import service as people
from conference.people.models import CareTeamMember, Patient, Person
from conference.people.roles import Role, TeamRole, is_prescriber
from conference.people.service import Caller, require_admin
from conference.plans import access, approvers, fhir
from conference.plans import changes as plan_changes
from conference.plans.changes import Change, ChangeProblem, DiffLine
from conference.plans.content import PlanContent, decode_content, empty_plan, encode_content
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval, StoredApprovalRule, TreatmentPlan
from conference.plans.rules import ApprovalRule, Requirement, RuleProblem, validate_rules
from conference.settings import Settings

OPEN_STATUSES = ("pending", "rejected", "stale")


# ---- what the pages and the API show ------------------------------------------------------------


@dataclass(frozen=True)
class PlanView:
    patient: Patient
    plan: TreatmentPlan | None
    current: PlanVersion | None
    content: PlanContent
    versions: list[PlanVersion]
    open_revisions: list[PlanRevision]
    names: dict[uuid.UUID, str]


@dataclass(frozen=True)
class VersionView:
    version: PlanVersion
    content: PlanContent
    current: bool
    names: dict[uuid.UUID, str]


@dataclass(frozen=True)
class RevisionView:
    revision: PlanRevision
    patient: Patient
    changes: list[Change]
    base: PlanContent
    diff: list[DiffLine]
    current_version: int
    requirements: list[approvers.RequirementState]
    approvals: list[RevisionApproval]
    can_approve_as: list[TeamRole]
    names: dict[uuid.UUID, str]

    @property
    def status(self) -> str:
        """As stored, except that a pending revision whose base has been replaced is already stale."""
        if self.revision.status == "pending" and self.revision.base_version != self.current_version:
            return "stale"
        return self.revision.status


@dataclass(frozen=True)
class QueueItem:
    revision: PlanRevision
    patient: Patient
    diff: list[DiffLine]
    required_as: list[Requirement]
    author_name: str

    @property
    def why(self) -> str:
        reasons = list(dict.fromkeys(reason for item in self.required_as for reason in item.reasons))
        return Requirement(self.required_as[0].approver, tuple(reasons)).why


# ---- reading changes sent as JSON ---------------------------------------------------------------


def parse_changes(raw: object) -> list[Change]:
    """Changes as sent by a page or an API client; a problem becomes a 400 that names the change."""
    try:
        return plan_changes.decode_changes(raw)
    except ChangeProblem as problem:
        raise InvalidInput(problem.location, problem.message) from None


# ---- access -------------------------------------------------------------------------------------


def _require_clinician(caller: Caller) -> None:
    if not caller.is_clinician:
        raise Forbidden("Only clinicians change treatment plans.")


# ---- reading plans ------------------------------------------------------------------------------


async def get_plan(session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> PlanView:
    """The patient's current plan, its history and its open revisions."""
    patient = await access.patient_for_plan(session, caller, patient_id)
    plan = await access.plan_of(session, patient.id)
    versions: list[PlanVersion] = []
    revisions: list[PlanRevision] = []
    current = None
    if plan is not None:
        versions = list(
            await session.scalars(
                select(PlanVersion).where(PlanVersion.plan_id == plan.id).order_by(PlanVersion.number.desc())
            )
        )
        current = next((version for version in versions if version.number == plan.current_version_number), None)
        revisions = list(
            await session.scalars(
                select(PlanRevision)
                .where(PlanRevision.plan_id == plan.id, PlanRevision.status.in_(OPEN_STATUSES))
                .order_by(PlanRevision.created_at)
            )
        )
    content = decode_content(current.content) if current is not None else empty_plan()
    await audit.record(
        session,
        caller.actor,
        "plan.read",
        patient_id=patient.id,
        subject=f"plan:{plan.id}" if plan else "plan:none",
        detail={"version": plan.current_version_number if plan else None},
    )
    names = await access.names_of(
        session,
        [
            *(version.created_by_id for version in versions),
            *(revision.author_id for revision in revisions),
            *_people_in(content),
        ],
    )
    return PlanView(patient, plan, current, content, versions, revisions, names)


async def get_version(session: AsyncSession, caller: Caller, patient_id: uuid.UUID, number: int) -> VersionView:
    """One version of the patient's plan, current or replaced."""
    patient = await access.patient_for_plan(session, caller, patient_id)
    plan = await access.plan_of(session, patient.id)
    if plan is None:
        raise NotFound("This patient has no treatment plan yet.")
    version = await access.version_of(session, plan.id, number)
    await audit.record(
        session, caller.actor, "plan.read", patient_id=patient.id, subject=f"plan:{plan.id}", detail={"version": number}
    )
    content = decode_content(version.content)
    names = await access.names_of(session, [version.created_by_id, *_people_in(content)])
    return VersionView(version, content, plan.current_version_number == number, names)


async def version_resource(
    session: AsyncSession, caller: Caller, patient_id: uuid.UUID, number: int, base_url: str
) -> dict[str, Any]:
    """A plan version as a FHIR R4 CarePlan, replacing the version before it."""
    view = await get_version(session, caller, patient_id, number)
    version = view.version
    replaces_id = None
    if version.replaces_number is not None:
        replaces_id = (await access.version_of(session, version.plan_id, version.replaces_number)).id
    return fhir.care_plan_resource(
        version,
        view.content,
        patient_id=patient_id,
        current=view.current,
        replaces_id=replaces_id,
        base_url=base_url,
        people=view.names,
    )


async def approvals_resource(
    session: AsyncSession, caller: Caller, revision_id: uuid.UUID, base_url: str
) -> dict[str, Any]:
    """Every decision on a revision, voided ones included, as a FHIR Bundle of Provenance."""
    view = await get_revision(session, caller, revision_id)
    target = None
    if view.revision.applied_version is not None:
        target = (await access.version_of(session, view.revision.plan_id, view.revision.applied_version)).id
    return fhir.bundle(
        [
            fhir.provenance_resource(
                approval, revision=view.revision, target_version_id=target, base_url=base_url, people=view.names
            )
            for approval in view.approvals
        ],
        base_url,
    )


def _people_in(content: PlanContent) -> list[uuid.UUID]:
    named = [medication.prescriber_id for medication in content.medications if medication.prescriber_id]
    if content.crisis_plan.lead_person_id:
        named.append(content.crisis_plan.lead_person_id)
    return named


# ---- creating a plan ----------------------------------------------------------------------------


async def create_plan(
    session: AsyncSession, caller: Caller, patient_id: uuid.UUID, changes: Sequence[Change]
) -> PlanVersion:
    """A patient's first plan (version 1), written directly: there is nothing yet to approve a change to."""
    _require_clinician(caller)
    patient = await people.patient_for_clinician(session, caller, patient_id)
    if await access.plan_of(session, patient.id) is not None:
        raise Conflict("This patient already has a treatment plan; propose a revision to change it.")
    content = _applied(empty_plan(), changes)
    await _check_people(session, patient, changes)
    version = await _new_plan(session, patient, caller.person.id, content)
    await audit.record(
        session, caller.actor, "plan.create", patient_id=patient.id, subject=f"plan:{version.plan_id}", detail={}
    )
    return version


async def _new_plan(session: AsyncSession, patient: Patient, author_id: uuid.UUID, content: PlanContent) -> PlanVersion:
    plan = TreatmentPlan(id=uuid.uuid4(), patient_id=patient.id, current_version_number=1)
    encoded = encode_content(content)
    version = PlanVersion(
        plan_id=plan.id,
        number=1,
        content=encoded,
        content_hash=signing.content_hash(encoded),
        created_by_id=author_id,
        replaces_number=None,
        revision_id=None,
    )
    try:
        async with session.begin_nested():
            session.add(plan)
            await session.flush()
            session.add(version)
            await session.flush()
    except IntegrityError:
        raise Conflict("Someone created this patient's treatment plan at the same moment; reload it.") from None
    return version


async def _plan_for_revision(session: AsyncSession, patient: Patient, author_id: uuid.UUID) -> TreatmentPlan:
    """The patient's plan, started empty (version 1) when there is none, so a revision has a base."""
    plan = await access.plan_of(session, patient.id)
    if plan is None:
        try:
            version = await _new_plan(session, patient, author_id, empty_plan())
        except Conflict:
            # Someone else started it at the same moment: theirs is as good as ours.
            plan = await access.plan_of(session, patient.id)
        else:
            plan = await session.get(TreatmentPlan, version.plan_id)
        assert plan is not None
    return plan


def _applied(content: PlanContent, changes: Sequence[Change]) -> PlanContent:
    try:
        return plan_changes.apply(content, changes)
    except ChangeProblem as problem:
        raise InvalidInput(problem.location, problem.message) from None


async def _check_people(session: AsyncSession, patient: Patient, changes: Sequence[Change]) -> None:
    """Prescribers must be able to prescribe, and the crisis lead must be on the care team."""
    team = {member.person_id for member in patient.team}
    for index, change in enumerate(changes):
        if isinstance(change, plan_changes.AddMedication | plan_changes.ChangeMedication) and change.prescriber_id:
            person = await session.get(Person, change.prescriber_id)
            if person is None or not person.active or not is_prescriber(person.roles):
                raise InvalidInput(
                    f"changes[{index}].prescriber_id",
                    f"Change {index + 1}: the prescriber must be an active psychiatrist, nurse practitioner or "
                    "primary care physician; choose one from the care team, or leave the prescriber out.",
                )
        lead = change.lead_person_id if isinstance(change, plan_changes.ChangeCrisisPlan) else None
        if lead is not None and lead not in team:
            raise InvalidInput(
                f"changes[{index}].lead_person_id",
                f"Change {index + 1}: the crisis lead must be on the patient's care team; choose a member of it.",
            )


# ---- approval rules -----------------------------------------------------------------------------


async def approval_rules(session: AsyncSession, caller: Caller) -> approvers.RuleSet:
    require_admin(caller)
    found = await approvers.current_rules(session)
    await audit.record(session, caller.actor, "plan.approval_rules_read", subject="approval_rules")
    return found


async def replace_approval_rules(
    session: AsyncSession, caller: Caller, wanted: Sequence[ApprovalRule], *, version: str
) -> approvers.RuleSet:
    """Replace every rule at once. ``version`` is that of the rules the admin edited."""
    require_admin(caller)
    try:
        valid = validate_rules(wanted)
    except RuleProblem as problem:
        field = f"rules[{problem.index}].approver" if problem.index is not None else "rules"
        raise InvalidInput(field, problem.message) from None
    # Audited before reading: on PostgreSQL that orders concurrent replacements, so the check is fresh.
    # The event stays only if the change commits.
    await audit.record(
        session,
        caller.actor,
        "plan.approval_rules_changed",
        subject="approval_rules",
        detail={"rules": [[rule.when.value, rule.approver.value] for rule in valid]},
    )
    current = await approvers.current_rules(session)
    if current.version != version:
        raise StaleEdit(
            "Another administrator changed the approval rules since you loaded them. Reload them and make your "
            "change again.",
            extra={"current_version": current.version},
        )
    for row in await session.scalars(select(StoredApprovalRule)):
        await session.delete(row)
    await session.flush()
    for position, rule in enumerate(valid):
        session.add(
            StoredApprovalRule(
                position=position,
                applies_when=rule.when.value,
                approver=rule.approver.value,
                created_by_id=caller.person.id,
            )
        )
    await session.flush()
    return approvers.RuleSet(valid, is_default=False)


# ---- proposing ----------------------------------------------------------------------------------


async def propose_revision(
    session: AsyncSession,
    caller: Caller,
    patient_id: uuid.UUID,
    changes: Sequence[Change],
    *,
    summary: str,
    source_minutes_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> PlanRevision:
    """Propose changes against the patient's current plan version (an empty version 1 if there is none).

    The revision waits for the approvals the rules require; each approver is told by email, without
    any health information. ``settings`` addresses that email; without them the environment's are used.
    """
    _require_clinician(caller)
    patient = await access.patient_for_plan(session, caller, patient_id)
    summary = _valid_summary(summary)
    plan = await _plan_for_revision(session, patient, caller.person.id)
    base = await access.version_of(session, plan.id, plan.current_version_number)
    _applied(decode_content(base.content), changes)
    await _check_people(session, patient, changes)
    requirements = await approvers.requirements_for(session, changes)
    encoded = plan_changes.encode_changes(changes)
    revision = PlanRevision(
        patient_id=patient.id,
        plan_id=plan.id,
        base_version=plan.current_version_number,
        changes=encoded,
        summary=summary,
        content_hash=_revision_hash(plan.current_version_number, encoded),
        requirements=approvers.encode_requirements(requirements),
        status="pending",
        author_id=caller.person.id,
        source_minutes_id=source_minutes_id,
    )
    session.add(revision)
    await session.flush()
    await audit.record(
        session,
        caller.actor,
        "plan.revision_proposed",
        patient_id=patient.id,
        subject=f"revision:{revision.id}",
        detail={
            "base_version": revision.base_version,
            "changes": len(encoded),
            "requires": [item.approver.value for item in requirements],
            "from_minutes": str(source_minutes_id) if source_minutes_id else None,
        },
    )
    await approvers.notify(session, revision, patient, caller.person.id, settings)
    return revision


def _valid_summary(summary: str) -> str:
    cleaned = summary.strip()
    if not cleaned:
        raise InvalidInput("summary", "Say in a sentence what this revision changes and why.")
    if len(cleaned) > 500:
        raise InvalidInput("summary", "Keep the summary under 500 characters; the changes carry the detail.")
    return cleaned


def _revision_hash(base_version: int, encoded_changes: list[dict[str, Any]]) -> str:
    return signing.content_hash({"base_version": base_version, "changes": encoded_changes})


# ---- reading a revision -------------------------------------------------------------------------


async def revisions_from_minutes(session: AsyncSession, minutes_id: uuid.UUID) -> list[PlanRevision]:
    """The revisions some minutes proposed, oldest first. For showing links beside minutes the caller
    has already been allowed to read (and whose reading was audited); the revisions' own pages check
    and audit again."""
    rows = await session.scalars(
        select(PlanRevision).where(PlanRevision.source_minutes_id == minutes_id).order_by(PlanRevision.created_at)
    )
    return list(rows)


async def get_revision(session: AsyncSession, caller: Caller, revision_id: uuid.UUID) -> RevisionView:
    revision, patient = await access.revision_for(session, caller, revision_id, lock=False)
    await audit.record(
        session, caller.actor, "plan.revision_read", patient_id=patient.id, subject=f"revision:{revision.id}"
    )
    return await _view(session, caller, revision, patient)


async def _view(session: AsyncSession, caller: Caller, revision: PlanRevision, patient: Patient) -> RevisionView:
    plan = await session.get(TreatmentPlan, revision.plan_id, populate_existing=True)
    assert plan is not None
    base = decode_content((await access.version_of(session, plan.id, revision.base_version)).content)
    changes = access.stored_changes(revision)
    approvals = list(
        await session.scalars(
            select(RevisionApproval)
            .where(RevisionApproval.revision_id == revision.id)
            .order_by(RevisionApproval.signed_at)
            .execution_options(populate_existing=True)
        )
    )
    live = [approval for approval in approvals if approval.voided_at is None]
    states = await approvers.requirement_states(session, patient, revision, live)
    can_approve = [
        state.requirement.approver
        for state in states
        if state.decision is None and any(person.id == caller.person.id for person in state.holders)
    ]
    if revision.status != "pending" or revision.base_version != plan.current_version_number:
        can_approve = []
    names = await access.names_of(
        session,
        [
            revision.author_id,
            *(approval.person_id for approval in approvals),
            *plan_changes.person_ids(changes),
            *_people_in(base),
        ],
    )
    return RevisionView(
        revision=revision,
        patient=patient,
        changes=changes,
        base=base,
        diff=plan_changes.describe(base, changes, names=names),
        current_version=plan.current_version_number,
        requirements=states,
        approvals=approvals,
        can_approve_as=can_approve,
        names=names,
    )


# ---- editing, withdrawing, rebasing -------------------------------------------------------------


async def edit_revision(
    session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    changes: Sequence[Change],
    *,
    summary: str,
    version: int,
    settings: Settings | None = None,
) -> PlanRevision:
    """New changes (or summary) for an open revision. Changed content voids every approval given."""
    _require_clinician(caller)
    revision, patient = await access.revision_for(session, caller, revision_id, team_only=True)
    require_version(revision.version, version, "plan revision")
    if revision.status not in ("pending", "rejected"):
        raise Conflict(access.closed_message(revision))
    plan = await access.locked_plan(session, revision.plan_id)
    if revision.base_version != plan.current_version_number:
        raise Conflict(
            f"The plan has moved on to version {plan.current_version_number} since this revision was written; "
            "rebase it (with your new changes) instead.",
            extra={"current_version": plan.current_version_number},
        )
    summary = _valid_summary(summary)
    base = await access.version_of(session, plan.id, revision.base_version)
    _applied(decode_content(base.content), changes)
    await _check_people(session, patient, changes)
    encoded = plan_changes.encode_changes(changes)
    new_hash = _revision_hash(revision.base_version, encoded)
    content_changed = new_hash != revision.content_hash or revision.status == "rejected"
    revision.summary = summary
    if content_changed:
        await _reset(session, revision, encoded, revision.base_version, "the revision was edited")
    await access.flush_edit(session)
    await audit.record(
        session,
        caller.actor,
        "plan.revision_edited",
        patient_id=patient.id,
        subject=f"revision:{revision.id}",
        detail={"content_changed": content_changed, "changes": len(encoded)},
    )
    if content_changed:
        await approvers.notify(session, revision, patient, caller.person.id, settings)
    return revision


async def rebase_revision(
    session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    *,
    version: int,
    changes: Sequence[Change] | None = None,
    settings: Settings | None = None,
) -> PlanRevision:
    """Move a revision onto the plan's current version, with its own changes or with ``changes``.

    Its approvals are void: what they signed was a change to another version.
    """
    _require_clinician(caller)
    revision, patient = await access.revision_for(session, caller, revision_id, team_only=True)
    require_version(revision.version, version, "plan revision")
    if revision.status not in OPEN_STATUSES:
        raise Conflict(access.closed_message(revision))
    plan = await access.locked_plan(session, revision.plan_id)
    current = plan.current_version_number
    if revision.base_version == current and changes is None:
        raise Conflict(f"This revision is already based on the current version ({current}); nothing to rebase.")
    wanted = list(changes) if changes is not None else access.stored_changes(revision)
    base = decode_content((await access.version_of(session, plan.id, current)).content)
    try:
        plan_changes.apply(base, wanted)
    except ChangeProblem as problem:
        if changes is not None:
            raise InvalidInput(problem.location, problem.message) from None
        raise Conflict(
            f"The changes no longer apply to version {current} of the plan. {problem.message} "
            "Rebase again with the changes corrected against the current plan.",
            extra={"field": problem.location, "current_version": current},
        ) from None
    await _check_people(session, patient, wanted)
    encoded = plan_changes.encode_changes(wanted)
    previous_base = revision.base_version
    await _reset(session, revision, encoded, current, f"the revision was rebased onto version {current}")
    await access.flush_edit(session)
    await audit.record(
        session,
        caller.actor,
        "plan.revision_rebased",
        patient_id=patient.id,
        subject=f"revision:{revision.id}",
        detail={"from_version": previous_base, "to_version": current},
    )
    await approvers.notify(session, revision, patient, caller.person.id, settings)
    return revision


async def withdraw_revision(
    session: AsyncSession, caller: Caller, revision_id: uuid.UUID, *, version: int
) -> PlanRevision:
    _require_clinician(caller)
    revision, patient = await access.revision_for(session, caller, revision_id, team_only=True)
    require_version(revision.version, version, "plan revision")
    if revision.status not in OPEN_STATUSES:
        raise Conflict(access.closed_message(revision))
    revision.status = "withdrawn"
    revision.status_reason = None
    await access.flush_edit(session)
    await audit.record(
        session, caller.actor, "plan.revision_withdrawn", patient_id=patient.id, subject=f"revision:{revision.id}"
    )
    return revision


async def _reset(
    session: AsyncSession, revision: PlanRevision, encoded: list[dict[str, Any]], base_version: int, why: str
) -> None:
    """New content: new hash, requirements from today's rules, earlier decisions void, pending again."""
    changes = msgspec.convert(encoded, list[Change])
    requirements = await approvers.requirements_for(session, changes)
    now = utcnow()
    for approval in await approvers.live_approvals(session, revision.id):
        approval.voided_at = now
        approval.voided_reason = why
    # Voided before the new decisions can arrive, so the one-live-decision-per-role index holds.
    await session.flush()
    revision.changes = encoded
    revision.base_version = base_version
    revision.content_hash = _revision_hash(base_version, encoded)
    revision.requirements = approvers.encode_requirements(requirements)
    revision.status = "pending"
    revision.status_reason = None


# ---- the approver's queue -----------------------------------------------------------------------


async def approval_queue(session: AsyncSession, caller: Caller) -> list[QueueItem]:
    """Revisions waiting for an approval the caller can give, oldest first."""
    if not caller.is_clinician:
        return []
    query = select(PlanRevision).where(PlanRevision.status == "pending").order_by(PlanRevision.created_at)
    if Role.MEDICAL_DIRECTOR not in caller.person.roles:
        query = query.where(
            PlanRevision.patient_id.in_(
                select(CareTeamMember.patient_id).where(CareTeamMember.person_id == caller.person.id)
            )
        )
    items: list[QueueItem] = []
    for revision in await session.scalars(query):
        patient = await session.get(Patient, revision.patient_id)
        plan = await session.get(TreatmentPlan, revision.plan_id)
        if patient is None or plan is None or revision.base_version != plan.current_version_number:
            continue
        states = await approvers.requirement_states(
            session, patient, revision, await approvers.live_approvals(session, revision.id)
        )
        mine = [
            state.requirement
            for state in states
            if state.decision is None and any(person.id == caller.person.id for person in state.holders)
        ]
        if not mine:
            continue
        base = decode_content((await access.version_of(session, plan.id, revision.base_version)).content)
        changes = access.stored_changes(revision)
        names = await access.names_of(
            session, [revision.author_id, *plan_changes.person_ids(changes), *_people_in(base)]
        )
        await audit.record(
            session,
            caller.actor,
            "plan.revision_read",
            patient_id=patient.id,
            subject=f"revision:{revision.id}",
            detail={"via": "approval_queue"},
        )
        items.append(
            QueueItem(
                revision=revision,
                patient=patient,
                diff=plan_changes.describe(base, changes, names=names),
                required_as=mine,
                author_name=names.get(revision.author_id, "someone no longer on record"),
            )
        )
    await audit.record(session, caller.actor, "plan.approval_queue", subject="approvals", detail={"count": len(items)})
    return items
