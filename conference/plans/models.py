"""Treatment plans, their immutable versions, revisions, approvals, and the clinic's approval rules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from conference.db import Base, Versioned

REVISION_STATUSES = ("draft", "pending", "approved", "rejected", "applied", "stale", "withdrawn")
DECISIONS = ("approved", "rejected")


class TreatmentPlan(Versioned, Base):
    """One per patient. Its version column is the lock that lets exactly one revision move it on."""

    __tablename__ = "treatment_plan"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"), unique=True)
    current_version_number: Mapped[int] = mapped_column(Integer)


class PlanVersion(Base):
    """What the plan said from one moment on. Never updated: the next version replaces it."""

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    # Indexed by the unique constraint, whose first column it is.
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plan.id", ondelete="RESTRICT"))
    number: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    replaces_number: Mapped[int | None] = mapped_column(Integer)
    revision_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plan_revision.id", ondelete="RESTRICT"))


class PlanRevision(Versioned, Base):
    """Changes proposed against one plan version, waiting for (or past) their approvals."""

    __tablename__ = "plan_revision"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(value) for value in REVISION_STATUSES)})", name="status"),
        Index("ix_plan_revision_plan_id_status", "plan_id", "status"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("treatment_plan.id", ondelete="RESTRICT"))
    base_version: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(String(500))
    # Over {base_version, changes}: what every approval signs.
    content_hash: Mapped[str] = mapped_column(String(64))
    # [{"approver": team role, "reasons": [trigger, ...]}], fixed when the changes were last set, so a
    # rule changed later does not move the goalposts of a revision already out for approval.
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    status_reason: Mapped[str | None] = mapped_column(String(500))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    # The minutes this came from. No foreign key: the minutes table arrives in a later migration
    # (0006), and a revision must not depend on it existing.
    source_minutes_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    applied_version: Mapped[int | None] = mapped_column(Integer)


class RevisionApproval(Base):
    """One person's signed decision on the exact content (``content_hash``) of a revision.

    The signed fields never change. When the revision's content changes afterwards, the approval is
    voided (``voided_at``), not edited, so the record of what was signed stays.
    """

    __tablename__ = "revision_approval"
    __table_args__ = (
        CheckConstraint(f"decision IN ({', '.join(repr(value) for value in DECISIONS)})", name="decision"),
        # One live decision per required role, enforced by the database so two approvers racing
        # for the same role cannot both count.
        Index(
            "uq_revision_approval_one_live",
            "revision_id",
            "required_as",
            unique=True,
            sqlite_where=text("voided_at IS NULL"),
            postgresql_where=text("voided_at IS NULL"),
        ),
    )

    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("plan_revision.id", ondelete="RESTRICT"), index=True)
    required_as: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    voided_reason: Mapped[str | None] = mapped_column(String(200))


SIGNED_FIELDS = ("revision_id", "required_as", "person_id", "decision", "reason", "content_hash", "signed_at")


@event.listens_for(PlanVersion, "before_update")
def _versions_never_change(_mapper: Mapper[Any], _connection: Connection, version: PlanVersion) -> None:
    raise ValueError(f"Plan version {version.number} cannot be changed; a revision makes the next version.")


@event.listens_for(RevisionApproval, "before_update")
def _signatures_never_change(_mapper: Mapper[Any], _connection: Connection, approval: RevisionApproval) -> None:
    state = inspect(approval)
    changed = [name for name in SIGNED_FIELDS if state.attrs[name].history.has_changes()]
    if changed:
        raise ValueError(f"A signed decision cannot be changed ({', '.join(changed)}); it can only be voided.")


class StoredApprovalRule(Base):
    """An admin's approval rule; when none are stored, ``rules.DEFAULT_RULES`` apply."""

    __tablename__ = "approval_rule"
    __table_args__ = (UniqueConstraint("applies_when", "approver"),)

    position: Mapped[int] = mapped_column(Integer)
    applies_when: Mapped[str] = mapped_column(String(32))
    approver: Mapped[str] = mapped_column(String(32))
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
