"""JSON API for treatment plans, revisions, approvals and approval rules, under /api/v1."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from conference.http import CallerDep, DbSession, SettingsDep
from conference.people.service import Caller
from conference.plans import service, signoff
from conference.plans.approvers import RuleSet
from conference.plans.changes import DiffLine
from conference.plans.models import PlanRevision, PlanVersion
from conference.plans.rules import ApprovalRule
from conference.plans.schemas import (
    ApprovalOut,
    DecisionIn,
    DiffLineOut,
    PlanCreate,
    PlanOut,
    PlanVersionOut,
    QueueItemOut,
    RebaseIn,
    RequirementOut,
    RevisionEdit,
    RevisionIn,
    RevisionOut,
    RevisionSummaryOut,
    RuleOut,
    RulesIn,
    RulesOut,
    VersionSummaryOut,
    WithdrawIn,
)

FHIR_JSON = "application/fhir+json"


def diff_out(lines: list[DiffLine]) -> list[DiffLineOut]:
    return [
        DiffLineOut(line.kind, line.section, line.before, line.after, line.high_risk, line.reason) for line in lines
    ]


def version_out(version: PlanVersion, names: dict[uuid.UUID, str]) -> PlanVersionOut:
    return PlanVersionOut(
        number=version.number,
        content=version.content,
        content_hash=version.content_hash,
        created_at=version.created_at,
        created_by_id=version.created_by_id,
        created_by_name=names.get(version.created_by_id, "someone no longer on record"),
        replaces=version.replaces_number,
        revision_id=version.revision_id,
    )


def plan_out(view: service.PlanView) -> PlanOut:
    names = view.names
    return PlanOut(
        patient_id=view.patient.id,
        current_version=view.plan.current_version_number if view.plan else None,
        version=version_out(view.current, names) if view.current else None,
        versions=[
            VersionSummaryOut(
                number=version.number,
                created_at=version.created_at,
                created_by_name=names.get(version.created_by_id, "someone no longer on record"),
                revision_id=version.revision_id,
            )
            for version in view.versions
        ],
        open_revisions=[
            RevisionSummaryOut(
                id=revision.id,
                status=revision.status,
                summary=revision.summary,
                base_version=revision.base_version,
                author_name=names.get(revision.author_id, "someone no longer on record"),
                created_at=revision.created_at,
            )
            for revision in view.open_revisions
        ],
    )


def revision_out(view: service.RevisionView) -> RevisionOut:
    revision, names = view.revision, view.names
    return RevisionOut(
        id=revision.id,
        patient_id=revision.patient_id,
        status=view.status,
        status_reason=revision.status_reason,
        summary=revision.summary,
        base_version=revision.base_version,
        current_version=view.current_version,
        applied_version=revision.applied_version,
        changes=revision.changes,
        content_hash=revision.content_hash,
        version=revision.version,
        author_id=revision.author_id,
        author_name=names.get(revision.author_id, "someone no longer on record"),
        source_minutes_id=revision.source_minutes_id,
        created_at=revision.created_at,
        updated_at=revision.updated_at,
        diff=diff_out(view.diff),
        requirements=[
            RequirementOut(
                approver=state.requirement.approver,
                why=state.requirement.why,
                status=state.status,
                decided_by_name=names.get(state.decision.person_id) if state.decision else None,
                signed_at=state.decision.signed_at if state.decision else None,
                can_be_given_by=[person.name for person in state.holders],
            )
            for state in view.requirements
        ],
        approvals=[
            ApprovalOut(
                id=approval.id,
                required_as=approval.required_as,
                person_id=approval.person_id,
                person_name=names.get(approval.person_id, "someone no longer on record"),
                decision=approval.decision,
                reason=approval.reason,
                content_hash=approval.content_hash,
                signed_at=approval.signed_at,
                voided_at=approval.voided_at,
                voided_reason=approval.voided_reason,
            )
            for approval in view.approvals
        ],
        can_approve_as=view.can_approve_as,
    )


def rules_out(rule_set: RuleSet) -> RulesOut:
    return RulesOut(
        version=rule_set.version,
        is_default=rule_set.is_default,
        rules=[
            RuleOut(rule.when, rule.approver, f"For {rule.when.label}: the {rule.approver.label.lower()}")
            for rule in rule_set.rules
        ],
    )


async def _revision_answer(db_session: AsyncSession, caller: Caller, revision: PlanRevision) -> RevisionOut:
    return revision_out(await service.get_revision(db_session, caller, revision.id))


class PlanController(Controller):
    path = "/api/v1/patients/{patient_id:uuid}/plan"
    tags = ["plans"]

    @get("/")
    async def get_plan(self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID]) -> PlanOut:
        return plan_out(await service.get_plan(db_session, caller, patient_id))

    @post("/")
    async def create_plan(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], data: JSONBody[PlanCreate]
    ) -> PlanOut:
        await service.create_plan(db_session, caller, patient_id, service.parse_changes(data.changes))
        return plan_out(await service.get_plan(db_session, caller, patient_id))

    @get("/versions/{number:int}")
    async def get_version(
        self, db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], number: FromPath[int]
    ) -> PlanVersionOut:
        view = await service.get_version(db_session, caller, patient_id, number)
        return version_out(view.version, view.names)

    @get("/versions/{number:int}/fhir", media_type=FHIR_JSON)
    async def version_fhir(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        patient_id: FromPath[uuid.UUID],
        number: FromPath[int],
    ) -> Response[dict[str, Any]]:
        resource = await service.version_resource(db_session, caller, patient_id, number, settings.public_base_url)
        return Response(resource, media_type=FHIR_JSON)

    @post("/revisions")
    async def propose(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[RevisionIn],
    ) -> RevisionOut:
        revision = await service.propose_revision(
            db_session,
            caller,
            patient_id,
            service.parse_changes(data.changes),
            summary=data.summary,
            source_minutes_id=data.source_minutes_id,
            settings=settings,
        )
        return await _revision_answer(db_session, caller, revision)


class RevisionsController(Controller):
    path = "/api/v1/revisions/{revision_id:uuid}"
    tags = ["plans"]

    @get("/")
    async def get_revision(
        self, db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]
    ) -> RevisionOut:
        return revision_out(await service.get_revision(db_session, caller, revision_id))

    @put("/")
    async def edit(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        revision_id: FromPath[uuid.UUID],
        data: JSONBody[RevisionEdit],
    ) -> RevisionOut:
        revision = await service.edit_revision(
            db_session,
            caller,
            revision_id,
            service.parse_changes(data.changes),
            summary=data.summary,
            version=data.version,
            settings=settings,
        )
        return await _revision_answer(db_session, caller, revision)

    @post("/approvals", status_code=200)
    async def decide(
        self, db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID], data: JSONBody[DecisionIn]
    ) -> RevisionOut:
        revision = await signoff.decide(
            db_session,
            caller,
            revision_id,
            data.decision,
            content_hash=data.content_hash,
            reason=data.reason,
            required_as=data.required_as,
        )
        return await _revision_answer(db_session, caller, revision)

    @get("/approvals/fhir", media_type=FHIR_JSON)
    async def approvals_fhir(
        self, db_session: DbSession, caller: CallerDep, settings: SettingsDep, revision_id: FromPath[uuid.UUID]
    ) -> Response[dict[str, Any]]:
        resource = await service.approvals_resource(db_session, caller, revision_id, settings.public_base_url)
        return Response(resource, media_type=FHIR_JSON)

    @post("/apply", status_code=200)
    async def apply(self, db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]) -> RevisionOut:
        await signoff.apply_revision(db_session, caller, revision_id)
        return revision_out(await service.get_revision(db_session, caller, revision_id))

    @post("/rebase", status_code=200)
    async def rebase(
        self,
        db_session: DbSession,
        caller: CallerDep,
        settings: SettingsDep,
        revision_id: FromPath[uuid.UUID],
        data: JSONBody[RebaseIn],
    ) -> RevisionOut:
        changes = service.parse_changes(data.changes) if data.changes is not None else None
        revision = await service.rebase_revision(
            db_session, caller, revision_id, version=data.version, changes=changes, settings=settings
        )
        return await _revision_answer(db_session, caller, revision)

    @post("/withdrawal", status_code=200)
    async def withdraw(
        self, db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID], data: JSONBody[WithdrawIn]
    ) -> RevisionOut:
        revision = await service.withdraw_revision(db_session, caller, revision_id, version=data.version)
        return await _revision_answer(db_session, caller, revision)


class ApprovalsController(Controller):
    path = "/api/v1/approvals"
    tags = ["plans"]

    @get("/")
    async def my_queue(self, db_session: DbSession, caller: CallerDep) -> list[QueueItemOut]:
        return [
            QueueItemOut(
                revision_id=item.revision.id,
                patient_id=item.patient.id,
                patient_name=item.patient.name,
                summary=item.revision.summary,
                author_name=item.author_name,
                waiting_since=item.revision.updated_at,
                required_as=[requirement.approver for requirement in item.required_as],
                why=item.why,
                content_hash=item.revision.content_hash,
                source_minutes_id=item.revision.source_minutes_id,
                diff=diff_out(item.diff),
            )
            for item in await service.approval_queue(db_session, caller)
        ]


class ApprovalRulesController(Controller):
    path = "/api/v1/approval-rules"
    tags = ["plans"]

    @get("/")
    async def get_rules(self, db_session: DbSession, caller: CallerDep) -> RulesOut:
        return rules_out(await service.approval_rules(db_session, caller))

    @put("/")
    async def replace_rules(self, db_session: DbSession, caller: CallerDep, data: JSONBody[RulesIn]) -> RulesOut:
        wanted = [ApprovalRule(rule.when, rule.approver) for rule in data.rules]
        return rules_out(await service.replace_approval_rules(db_session, caller, wanted, version=data.version))


route_handlers = [PlanController, RevisionsController, ApprovalsController, ApprovalRulesController]
