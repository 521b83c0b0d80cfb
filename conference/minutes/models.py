"""Minutes of one meeting occurrence: a draft, then signed and final; amendments follow in a chain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from conference.db import Base, Versioned


class Minutes(Versioned, Base):
    """One version of the minutes of a meeting occurrence.

    ``document_version`` counts the versions of the document: 1 for the original, 2 for its first
    amendment, and so on; ``amends_id`` names the final version an amendment replaces. The unique
    constraints keep the chain a single line however many people write at once: one original per
    occurrence, and at most one amendment of any version.

    Once final, a row never changes: the service refuses, and a database trigger (see the
    migration) refuses any update or delete of a final row from anywhere else.
    """

    __tablename__ = "minutes"
    __table_args__ = (
        UniqueConstraint("meeting_id", "occurrence_start", "document_version"),
        UniqueConstraint("amends_id"),
        Index("ix_minutes_patient_id_occurrence_start", "patient_id", "occurrence_start"),
        CheckConstraint("status IN ('draft', 'final')", name="status"),
        CheckConstraint(
            "(status = 'draft' AND signed_by_id IS NULL AND signed_at IS NULL AND content_hash IS NULL)"
            " OR (status = 'final' AND signed_by_id IS NOT NULL AND signed_at IS NOT NULL"
            " AND content_hash IS NOT NULL)",
            name="signed_when_final",
        ),
        CheckConstraint(
            "(document_version = 1 AND amends_id IS NULL) OR (document_version > 1 AND amends_id IS NOT NULL)",
            name="amendment_chain",
        ),
    )

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meeting.id", ondelete="RESTRICT"))
    occurrence_start: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))  # original start, UTC
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(8), default="draft")  # draft | final
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    updated_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    document_version: Mapped[int] = mapped_column(Integer, default=1)
    amends_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("minutes.id", ondelete="RESTRICT"))
    signed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    content_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 hex of the signed document

    @property
    def is_final(self) -> bool:
        return self.status == "final"
