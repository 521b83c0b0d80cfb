"""Input and output shapes of the treatment-plan API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from conference.people.roles import TeamRole
from conference.plans.rules import Trigger

Summary = Annotated[str, msgspec.Meta(max_length=500)]
ContentHash = Annotated[str, msgspec.Meta(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")]
# Changes arrive as plain objects and are read by ``changes.decode_changes``, whose messages say
# which change is wrong and how to fix it.
RawChanges = list[dict[str, Any]]


class PlanCreate(msgspec.Struct, forbid_unknown_fields=True):
    """The first version of a plan, written as changes to an empty one."""

    changes: RawChanges


class RevisionIn(msgspec.Struct, forbid_unknown_fields=True):
    changes: RawChanges
    summary: Summary
    source_minutes_id: uuid.UUID | None = None


class RevisionEdit(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    changes: RawChanges
    summary: Summary


class RebaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """``changes``, when given, replace the revision's own (for changes that no longer apply)."""

    version: int
    changes: RawChanges | None = None


class WithdrawIn(msgspec.Struct, forbid_unknown_fields=True):
    version: int


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True):
    """An approval or rejection of exactly the content whose hash the approver reviewed."""

    decision: Literal["approved", "rejected"]
    content_hash: ContentHash
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    required_as: TeamRole | None = None


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    when: Trigger
    approver: TeamRole


class RulesIn(msgspec.Struct, forbid_unknown_fields=True):
    """The whole rule list; ``version`` is the one read, so another admin's change is not overwritten."""

    version: str
    rules: list[RuleIn]


# ---- answers ------------------------------------------------------------------------------------


class DiffLineOut(msgspec.Struct):
    kind: str
    section: str
    before: str | None
    after: str | None
    high_risk: bool
    reason: str


class PlanVersionOut(msgspec.Struct):
    number: int
    content: dict[str, Any]
    content_hash: str
    created_at: dt.datetime
    created_by_id: uuid.UUID
    created_by_name: str
    replaces: int | None
    revision_id: uuid.UUID | None


class VersionSummaryOut(msgspec.Struct):
    number: int
    created_at: dt.datetime
    created_by_name: str
    revision_id: uuid.UUID | None


class RevisionSummaryOut(msgspec.Struct):
    id: uuid.UUID
    status: str
    summary: str
    base_version: int
    author_name: str
    created_at: dt.datetime


class PlanOut(msgspec.Struct):
    patient_id: uuid.UUID
    current_version: int | None
    version: PlanVersionOut | None
    versions: list[VersionSummaryOut]
    open_revisions: list[RevisionSummaryOut]


class RequirementOut(msgspec.Struct):
    approver: TeamRole
    why: str
    status: Literal["waiting", "approved", "rejected"]
    decided_by_name: str | None
    signed_at: dt.datetime | None
    can_be_given_by: list[str]


class ApprovalOut(msgspec.Struct):
    id: uuid.UUID
    required_as: str
    person_id: uuid.UUID
    person_name: str
    decision: str
    reason: str | None
    content_hash: str
    signed_at: dt.datetime
    voided_at: dt.datetime | None
    voided_reason: str | None


class RevisionOut(msgspec.Struct):
    id: uuid.UUID
    patient_id: uuid.UUID
    status: str
    status_reason: str | None
    summary: str
    base_version: int
    current_version: int
    applied_version: int | None
    changes: list[dict[str, Any]]
    content_hash: str
    version: int
    author_id: uuid.UUID
    author_name: str
    source_minutes_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
    diff: list[DiffLineOut]
    requirements: list[RequirementOut]
    approvals: list[ApprovalOut]
    can_approve_as: list[TeamRole]


class QueueItemOut(msgspec.Struct):
    revision_id: uuid.UUID
    patient_id: uuid.UUID
    patient_name: str
    summary: str
    author_name: str
    waiting_since: dt.datetime
    required_as: list[TeamRole]
    why: str
    content_hash: str
    source_minutes_id: uuid.UUID | None
    diff: list[DiffLineOut]


class RuleOut(msgspec.Struct):
    when: Trigger
    approver: TeamRole
    description: str


class RulesOut(msgspec.Struct):
    version: str
    is_default: bool
    rules: list[RuleOut]
