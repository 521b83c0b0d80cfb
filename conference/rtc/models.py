"""Attendance: who was in a meeting occurrence's video room, from when to when."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from conference.db import Base


class Attendance(Base):
    """One stay in a room: a row per join, closed when the person leaves or is taken out.

    ``occurrence_start`` is the occurrence's original start (its recurrence id), which stays the same
    when the occurrence is moved, so a moved meeting's attendance still belongs to it. Rows are kept
    (billing counts minutes per patient per calendar month), hence RESTRICT on every reference.
    """

    __tablename__ = "attendance"
    __table_args__ = (
        # Monthly totals per patient read a range of joins.
        Index("ix_attendance_patient_id_joined_at", "patient_id", "joined_at"),
        Index("ix_attendance_meeting_id_occurrence_start", "meeting_id", "occurrence_start"),
        CheckConstraint("attendee IN ('clinician', 'patient')", name="attendee"),
        # The patient is the only attendee without a staff account, and the only one without a person.
        CheckConstraint(
            "(attendee = 'patient' AND person_id IS NULL) OR (attendee = 'clinician' AND person_id IS NOT NULL)",
            name="attendee_person",
        ),
    )

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meeting.id", ondelete="RESTRICT"))
    occurrence_start: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    attendee: Mapped[str] = mapped_column(String(16))  # clinician | patient
    role: Mapped[str] = mapped_column(String(32))  # the care-team role, or "patient"
    joined_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    left_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # Moved forward while the person is present, so a stay cut short by a crash ends where it was last seen.
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    # left | sent_to_lobby | removed_consent | disconnected | room_closed | service_restart
    left_reason: Mapped[str | None] = mapped_column(String(32))
