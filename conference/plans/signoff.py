"""Signed decisions on a revision, and applying it once every approval it needs is in.

Each approval or rejection signs the hash of the exact revision content the approver reviewed; a
revision changed since is refused, so nobody signs what they have not seen. The last approval a
revision needs applies it, producing the plan's next version, but only onto the version it was
written against. Two revisions racing to apply leave one applied and the other stale: the locks
taken in ``access`` order them, the first applied marks the others stale, and behind both the plan
row's optimistic lock and the unique (plan, number) of versions refuse a second version onto the
same base. A stale revision keeps its changes, for its author to rebase.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal, NoReturn

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from conference import signing
from conference.audit import service as audit
from conference.audit.service import Actor
from conference.db import utcnow
from conference.errors import Conflict, Forbidden, InvalidInput
from conference.people.models import Patient
from conference.people.roles import TeamRole
from conference.people.service import Caller
from conference.plans import access, approvers
from conference.plans import changes as plan_changes
from conference.plans.changes import ChangeProblem
from conference.plans.content import decode_content, encode_content
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval, TreatmentPlan

Decision = Literal["approved", "rejected"]


# ---- approving ----------------------------------------------------------------------------------


async def approve(
    session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    *,
    content_hash: str,
    required_as: TeamRole | None = None,
) -> PlanRevision:
    """Sign the revision's content as approved; the last approval it needs applies it."""
    return await decide(session, caller, revision_id, "approved", content_hash=content_hash, required_as=required_as)


async def reject(
    session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    *,
    content_hash: str,
    reason: str,
    required_as: TeamRole | None = None,
) -> PlanRevision:
    return await decide(
        session, caller, revision_id, "rejected", content_hash=content_hash, reason=reason, required_as=required_as
    )


async def decide(
    session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    decision: Decision,
    *,
    content_hash: str,
    reason: str = "",
    required_as: TeamRole | None = None,
) -> PlanRevision:
    """Record the caller's signed decision for every open requirement they can fill (or ``required_as``).

    ``content_hash`` is the hash of the content the caller reviewed; a revision changed since then is
    refused, so nobody approves something they have not seen.
    """
    revision, patient = await access.revision_for(session, caller, revision_id)
    plan = await access.locked_plan(session, revision.plan_id)
    if revision.status != "pending":
        raise Conflict(access.closed_message(revision))
    if revision.base_version != plan.current_version_number:
        await _mark_stale_and_refuse(session, caller.actor, revision, plan)
    if decision == "rejected" and not reason.strip():
        raise InvalidInput("reason", "Say why you reject this revision, so its author knows what to change.")
    live = await approvers.live_approvals(session, revision.id)
    states = await approvers.requirement_states(session, patient, revision, live)
    mine = [state for state in states if any(person.id == caller.person.id for person in state.holders)]
    if required_as is not None:
        mine = [state for state in mine if state.requirement.approver is required_as]
    if not mine:
        raise Forbidden(
            f"Your approval is not one this revision needs. It needs: {approvers.who_must_approve(states)}.",
            extra={"required": [state.requirement.approver.value for state in states]},
        )
    open_ = [state for state in mine if state.decision is None]
    if not open_:
        raise Conflict(_already_decided(mine, caller.person.id))
    if content_hash != revision.content_hash:
        raise Conflict(
            "The revision changed since you opened it; review it again before you decide.",
            extra={"current_hash": revision.content_hash},
        )
    now = utcnow()
    for state in open_:
        session.add(
            RevisionApproval(
                revision_id=revision.id,
                required_as=state.requirement.approver.value,
                person_id=caller.person.id,
                decision=decision,
                reason=reason.strip() or None,
                content_hash=revision.content_hash,
                signed_at=now,
            )
        )
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("Someone else decided for the same role at the same moment; reload the revision.") from None
    await audit.record(
        session,
        caller.actor,
        f"plan.{decision}",
        patient_id=patient.id,
        subject=f"revision:{revision.id}",
        detail={"as": [state.requirement.approver.value for state in open_], "content_hash": revision.content_hash},
    )
    if decision == "rejected":
        revision.status = "rejected"
        revision.status_reason = f"Rejected by {caller.person.name}."
        await access.flush_edit(session)
        return revision
    given_now = {state.requirement.approver for state in open_}
    if all(state.status == "approved" or state.requirement.approver in given_now for state in states):
        await _apply(session, caller.actor, revision, plan, patient)
    return revision


def _already_decided(mine: Sequence[approvers.RequirementState], person_id: uuid.UUID) -> str:
    done = [state for state in mine if state.decision is not None]
    if all(state.decision is not None and state.decision.person_id == person_id for state in done):
        roles = " and ".join(state.requirement.approver.label.lower() for state in done)
        return f"You have already decided on this revision as {roles}; nothing more is needed from you."
    return "Everyone you could approve for has already decided on this revision; nothing more is needed from you."


async def _mark_stale_and_refuse(
    session: AsyncSession, actor: Actor, revision: PlanRevision, plan: TreatmentPlan
) -> NoReturn:
    """Record that the revision can no longer be applied, keep that record, and say what to do."""
    current = plan.current_version_number
    revision.status = "stale"
    revision.status_reason = f"The plan moved on to version {current}; rebase this revision onto it."
    await access.flush_edit(session)
    await audit.record(
        session,
        actor,
        "plan.revision_stale",
        patient_id=revision.patient_id,
        subject=f"revision:{revision.id}",
        detail={"base_version": revision.base_version, "current_version": current},
    )
    # Committed before refusing: the refusal rolls the request back, and the stale mark must stay.
    await session.commit()
    raise Conflict(_stale_message(revision.base_version, current), extra={"current_version": current})


def _stale_message(base: int, current: int) -> str:
    return (
        f"This revision was written against version {base} of the plan, which is now at version {current}. "
        "Its author must rebase it onto the current version; approvals can be given after that."
    )


# ---- applying -----------------------------------------------------------------------------------


async def apply_revision(session: AsyncSession, caller: Caller, revision_id: uuid.UUID) -> PlanVersion:
    """Apply a revision whose approvals are all in; normally the last approval does this by itself."""
    revision, patient = await access.revision_for(session, caller, revision_id)
    plan = await access.locked_plan(session, revision.plan_id)
    if revision.status != "pending":
        raise Conflict(access.closed_message(revision))
    if revision.base_version != plan.current_version_number:
        await _mark_stale_and_refuse(session, caller.actor, revision, plan)
    states = await approvers.requirement_states(
        session, patient, revision, await approvers.live_approvals(session, revision.id)
    )
    waiting = [state for state in states if state.status != "approved"]
    if waiting:
        raise Conflict(f"This revision still waits for approval from {approvers.who_must_approve(waiting)}.")
    return await _apply(session, caller.actor, revision, plan, patient)


async def _apply(
    session: AsyncSession, actor: Actor, revision: PlanRevision, plan: TreatmentPlan, patient: Patient
) -> PlanVersion:
    """The next plan version from this revision; the base must be current (checked under lock)."""
    base = await access.version_of(session, plan.id, revision.base_version)
    try:
        content = plan_changes.apply(decode_content(base.content), access.stored_changes(revision))
    except ChangeProblem as problem:  # cannot happen to a revision checked against its own base
        raise Conflict(f"This revision does not apply to its base version: {problem.message}") from None
    revision_id, base_version = revision.id, revision.base_version  # still readable after a rollback
    number = base_version + 1
    encoded = encode_content(content)
    version = PlanVersion(
        plan_id=plan.id,
        number=number,
        content=encoded,
        content_hash=signing.content_hash(encoded),
        created_by_id=revision.author_id,
        replaces_number=revision.base_version,
        revision_id=revision.id,
    )
    try:
        async with session.begin_nested():
            session.add(version)
            plan.current_version_number = number
            revision.status = "applied"
            revision.status_reason = None
            revision.applied_version = number
            await session.flush()
    except (IntegrityError, StaleDataError):
        await _lost_race(session, actor, revision_id, base_version)
    others = list(
        await session.scalars(
            select(PlanRevision.id).where(
                PlanRevision.plan_id == plan.id,
                PlanRevision.status == "pending",
                PlanRevision.base_version < number,
            )
        )
    )
    if others:
        await session.execute(
            update(PlanRevision)
            .where(PlanRevision.id.in_(others))
            .values(
                status="stale",
                status_reason=f"The plan moved on to version {number}; rebase this revision onto it.",
                version=PlanRevision.version + 1,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    await audit.record(
        session,
        actor,
        "plan.revision_applied",
        patient_id=patient.id,
        subject=f"revision:{revision.id}",
        detail={"version": number, "made_stale": [str(other) for other in others]},
    )
    return version


async def _lost_race(session: AsyncSession, actor: Actor, revision_id: uuid.UUID, base_version: int) -> NoReturn:
    """Another revision moved the plan on between our check and our write: start over, mark ours stale."""
    await session.rollback()
    # Audited (which takes this transaction's turn among writers) before the rows are locked.
    await audit.record(session, actor, "plan.revision_apply_refused", subject=f"revision:{revision_id}")
    revision = await session.scalar(
        select(PlanRevision)
        .where(PlanRevision.id == revision_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert revision is not None
    plan = await access.locked_plan(session, revision.plan_id)
    if revision.status == "pending":
        await _mark_stale_and_refuse(session, actor, revision, plan)
    await session.commit()
    raise Conflict(_stale_message(base_version, plan.current_version_number))
