"""People (staff accounts), patients and care teams."""

from __future__ import annotations

import datetime as dt
import uuid

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Date, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.db import Base, Versioned
from conference.people.roles import Role, TeamRole


class Person(Versioned, Base):
    """A member of staff who signs in: clinicians and admins."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject"),)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    oidc_issuer: Mapped[str | None] = mapped_column(String(512))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    role_rows: Mapped[list[PersonRole]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin", order_by="PersonRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows)


class PersonRole(Base):
    __tablename__ = "person_role"
    __table_args__ = (UniqueConstraint("person_id", "role"),)

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    person: Mapped[Person] = relationship(back_populates="role_rows")


class Patient(Versioned, Base):
    __tablename__ = "patient"

    name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    preferred_contact: Mapped[str] = mapped_column(String(16), default="email")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    representative_name: Mapped[str | None] = mapped_column(String(200))
    representative_relationship: Mapped[str | None] = mapped_column(String(100))
    representative_email: Mapped[str | None] = mapped_column(String(320))
    representative_phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when treatment ends (the patient is made inactive); consents that expire on it end then.
    treatment_ended_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    team: Mapped[list[CareTeamMember]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", lazy="selectin"
    )


class CareTeamMember(Base):
    __tablename__ = "care_team_member"
    __table_args__ = (
        UniqueConstraint("patient_id", "person_id"),
        # At most one crisis lead per patient, enforced by the database so concurrent edits can't both win.
        Index(
            "uq_care_team_member_one_crisis_lead",
            "patient_id",
            unique=True,
            sqlite_where=text("is_crisis_lead = 1"),
            postgresql_where=text("is_crisis_lead"),
        ),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"), index=True)
    team_role: Mapped[str] = mapped_column(String(32))
    is_crisis_lead: Mapped[bool] = mapped_column(Boolean, default=False)

    patient: Mapped[Patient] = relationship(back_populates="team")
    person: Mapped[Person] = relationship(lazy="joined")

    @property
    def role(self) -> TeamRole:
        return TeamRole(self.team_role)
