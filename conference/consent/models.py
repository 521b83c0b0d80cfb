"""Consent records. A signed consent is never edited: revocation is a row of its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conference.db import Base


class Consent(Base):
    __tablename__ = "consent"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    signer_kind: Mapped[str] = mapped_column(String(16))  # patient | representative
    signer_name: Mapped[str] = mapped_column(String(200))
    representative_relationship: Mapped[str | None] = mapped_column(String(100))
    signature_method: Mapped[str] = mapped_column(String(16))  # e_signature | in_person
    attested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    expires_on: Mapped[str | None] = mapped_column(String(32))
    form_version: Mapped[str] = mapped_column(String(64))
    agreed_text: Mapped[str] = mapped_column(Text)
    agreed_text_sha256: Mapped[str] = mapped_column(String(64))
    # When the service last acted on this consent ceasing to apply (revocation, expiry), so it acts once.
    lapse_processed_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True))

    provisions: Mapped[list[ConsentProvision]] = relationship(
        back_populates="consent", cascade="all", lazy="selectin", order_by="ConsentProvision.position"
    )
    revocation: Mapped[ConsentRevocation | None] = relationship(back_populates="consent", lazy="selectin")


class ConsentProvision(Base):
    __tablename__ = "consent_provision"

    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consent.id", ondelete="RESTRICT"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    type: Mapped[str] = mapped_column(String(8))  # permit | deny
    purposes: Mapped[list[str]] = mapped_column(JSON)
    person_ids: Mapped[list[str]] = mapped_column(JSON)
    team_roles: Mapped[list[str]] = mapped_column(JSON)
    classes: Mapped[list[str]] = mapped_column(JSON)

    consent: Mapped[Consent] = relationship(back_populates="provisions")


class ConsentRevocation(Base):
    """Who revoked, when and how. One per consent: revoking twice changes nothing."""

    __tablename__ = "consent_revocation"

    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consent.id", ondelete="RESTRICT"), unique=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(DateTimeUTC(timezone=True))
    revoked_by_kind: Mapped[str] = mapped_column(String(16))  # patient | representative | clinician
    revoked_by_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(16))  # online | in_person | in_writing | by_phone
    note: Mapped[str | None] = mapped_column(String(500))

    consent: Mapped[Consent] = relationship(back_populates="revocation")

    def as_dict(self) -> dict[str, Any]:
        return {"revoked_at": self.revoked_at.isoformat(), "by": self.revoked_by_kind, "method": self.method}
