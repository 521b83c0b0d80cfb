"""Meetings, their participants and occurrences; availability; calendar feed tokens."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.db import Base, Versioned


class WorkingHours(Base):
    """One weekly block of working time, in the person's own time zone (weekday 0 = Monday)."""

    __tablename__ = "working_hours"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)


class TimeOff(Base):
    __tablename__ = "time_off"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))


class ExternalCalendar(Base):
    """A calendar someone keeps elsewhere; only its busy times are kept, never its contents."""

    __tablename__ = "external_calendar"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | ok | error
    status_message: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_success_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    busy: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [[start ISO, end ISO], ...] in UTC


class Meeting(Versioned, Base):
    """A joint session or case review: a single meeting or a weekly series.

    Times are stored in UTC; ``time_zone`` is the organizer's, in which a series keeps its wall-clock
    time across daylight-saving changes.
    """

    __tablename__ = "meeting"

    kind: Mapped[str] = mapped_column(String(16))  # joint_session | case_review
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    time_zone: Mapped[str] = mapped_column(String(64))
    rrule: Mapped[str | None] = mapped_column(String(200))
    # The end of the last occurrence, so range queries need not expand every series.
    series_ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(24), default="booked")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    ical_uid: Mapped[str] = mapped_column(String(128), unique=True)
    conflict_override_reason: Mapped[str | None] = mapped_column(String(500))
    attention: Mapped[str | None] = mapped_column(String(300))  # why the organizer should look at it
    split_from_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("meeting.id", ondelete="RESTRICT"))

    participants: Mapped[list[MeetingParticipant]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", lazy="selectin"
    )
    exceptions: Mapped[list[OccurrenceException]] = relationship(
        back_populates="meeting",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="OccurrenceException.recurrence_id",
    )


class MeetingParticipant(Base):
    __tablename__ = "meeting_participant"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    is_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    response: Mapped[str] = mapped_column(String(16), default="needs-action")
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    removed_reason: Mapped[str | None] = mapped_column(String(200))

    meeting: Mapped[Meeting] = relationship(back_populates="participants")


class OccurrenceException(Base):
    """One occurrence of a series cancelled or moved; keyed by its original start."""

    __tablename__ = "occurrence_exception"
    __table_args__ = (UniqueConstraint("meeting_id", "recurrence_id"),)

    meeting_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meeting.id", ondelete="CASCADE"), index=True)
    recurrence_id: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))

    meeting: Mapped[Meeting] = relationship(back_populates="exceptions")


class FeedToken(Base):
    """A person's secret calendar feed address; only its hash is kept."""

    __tablename__ = "feed_token"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "created_at": self.created_at.isoformat(), "revoked": self.revoked_at is not None}
