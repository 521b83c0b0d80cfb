"""Writing and verifying the audit trail. Every read or change of a patient's data calls ``record``."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from conference.audit.chain import (
    GENESIS_HASH,
    ChainBreak,
    ChainedFields,
    StoredEvent,
    event_hash,
    first_break,
)
from conference.audit.models import AuditEvent
from conference.db import utcnow

ActorKind = Literal["person", "patient", "system", "anonymous"]

# Any constant works; it names the one lock that orders audit writers on PostgreSQL.
_AUDIT_LOCK_KEY = 0x0A0D17
_HOLDS_WRITER_LOCK = "conference.audit.writer_lock"


@dataclass(frozen=True)
class Actor:
    """Who acted, and from where."""

    kind: ActorKind
    id: uuid.UUID | None = None
    client_address: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system")


async def queue_writer(session: AsyncSession) -> None:
    """Wait for this transaction's turn to write; held until it ends. Call it before locking rows.

    On PostgreSQL every transaction that writes takes the one audit lock before its first row lock
    (the first flush takes it too, see ``_queue_before_first_write``): when some took rows first and
    others the audit lock first, two could each hold what the other waits for. SQLite serializes
    writers at ``BEGIN IMMEDIATE`` already.
    """
    await session.run_sync(_take_writer_lock)


def _take_writer_lock(sync_session: Session) -> None:
    transaction = sync_session.get_transaction()
    if sync_session.get_bind().dialect.name != "postgresql" or transaction is None:
        return
    if sync_session.info.get(_HOLDS_WRITER_LOCK) is transaction:
        return
    sync_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
    sync_session.info[_HOLDS_WRITER_LOCK] = transaction


@event.listens_for(Session, "before_flush")
def _queue_before_first_write(sync_session: Session, _context: object, _instances: object) -> None:
    if sync_session.new or sync_session.dirty or sync_session.deleted:
        _take_writer_lock(sync_session)


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    patient_id: uuid.UUID | None = None,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction, so it commits or rolls back with the change."""
    await queue_writer(session)
    last = (
        await session.execute(
            select(AuditEvent.sequence, AuditEvent.event_hash).order_by(AuditEvent.sequence.desc()).limit(1)
        )
    ).first()
    sequence, previous_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    fields = ChainedFields(
        sequence=sequence,
        occurred_at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        action=action,
        patient_id=patient_id,
        subject=subject,
        client_address=actor.client_address,
        detail=dict(detail or {}),
        previous_hash=previous_hash,
    )
    event = AuditEvent(**dataclasses.asdict(fields), event_hash=event_hash(fields))
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class VerifyResult:
    events_checked: int
    broken: ChainBreak | None
    newest_hash: str = GENESIS_HASH


async def verify(session: AsyncSession, batch_size: int = 1000) -> VerifyResult:
    """Walk the whole chain in order and name the first event that does not hold."""
    previous, next_sequence, checked = GENESIS_HASH, 1, 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.sequence >= next_sequence)
                .order_by(AuditEvent.sequence)
                .limit(batch_size)
            )
        ).all()
        if not rows:
            return VerifyResult(checked, None, previous)
        broken = first_break((_stored(row) for row in rows), previous, next_sequence)
        if broken:
            return VerifyResult(checked + broken.sequence - next_sequence, broken)
        checked += len(rows)
        previous, next_sequence = rows[-1].event_hash, rows[-1].sequence + 1


def _stored(row: AuditEvent) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        fields=ChainedFields(
            sequence=row.sequence,
            occurred_at=row.occurred_at,
            actor_kind=row.actor_kind,
            actor_id=row.actor_id,
            action=row.action,
            patient_id=row.patient_id,
            subject=row.subject,
            client_address=row.client_address,
            detail=row.detail,
            previous_hash=row.previous_hash,
        ),
        stored_hash=row.event_hash,
    )


async def events_for_patient(session: AsyncSession, patient_id: uuid.UUID, limit: int = 200) -> list[AuditEvent]:
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.patient_id == patient_id).order_by(AuditEvent.sequence.desc()).limit(limit)
    )
    return list(rows)
