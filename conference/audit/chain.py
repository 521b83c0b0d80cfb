"""Hash-chain rules for the audit trail: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainedFields:
    sequence: int
    occurred_at: dt.datetime
    actor_kind: str
    actor_id: uuid.UUID | None
    action: str
    patient_id: uuid.UUID | None
    subject: str | None
    client_address: str | None
    detail: Mapping[str, Any]
    previous_hash: str


def event_hash(fields: ChainedFields) -> str:
    """SHA-256 of a canonical JSON form, so any change to any field changes the hash."""
    canonical = json.dumps(
        {
            "sequence": fields.sequence,
            "occurred_at": fields.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "actor_kind": fields.actor_kind,
            "actor_id": str(fields.actor_id) if fields.actor_id else None,
            "action": fields.action,
            "patient_id": str(fields.patient_id) if fields.patient_id else None,
            "subject": fields.subject,
            "client_address": fields.client_address,
            "detail": fields.detail,
            "previous_hash": fields.previous_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    id: uuid.UUID
    fields: ChainedFields
    stored_hash: str


@dataclass(frozen=True)
class ChainBreak:
    event_id: uuid.UUID
    sequence: int
    reason: str


def first_break(
    events: Iterable[StoredEvent], expected_previous: str = GENESIS_HASH, expected_sequence: int = 1
) -> ChainBreak | None:
    """The first event, in sequence order, that was altered, removed before, or relinked."""
    for event in events:
        if event.fields.sequence != expected_sequence:
            return ChainBreak(
                event.id,
                event.fields.sequence,
                f"events {expected_sequence}..{event.fields.sequence - 1} are missing before this one",
            )
        if event.fields.previous_hash != expected_previous:
            return ChainBreak(event.id, event.fields.sequence, "its link to the previous event does not match")
        if event_hash(event.fields) != event.stored_hash:
            return ChainBreak(event.id, event.fields.sequence, "its content was altered after it was written")
        expected_previous = event.stored_hash
        expected_sequence += 1
    return None
