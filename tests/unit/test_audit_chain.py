from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from conference.audit.chain import GENESIS_HASH, ChainedFields, StoredEvent, event_hash, first_break


def _chain(length: int) -> list[StoredEvent]:
    events, previous = [], GENESIS_HASH
    start = dt.datetime(2026, 3, 8, 6, 30, tzinfo=dt.UTC)
    for sequence in range(1, length + 1):
        fields = ChainedFields(
            sequence=sequence,
            occurred_at=start + dt.timedelta(minutes=sequence),
            actor_kind="person",
            actor_id=uuid.UUID(int=sequence),
            action="patient.read",
            patient_id=uuid.UUID(int=1000),
            subject="patient:x",
            client_address="127.0.0.1",
            detail={"n": sequence},
            previous_hash=previous,
        )
        previous = event_hash(fields)
        events.append(StoredEvent(id=uuid.UUID(int=sequence + 5000), fields=fields, stored_hash=previous))
    return events


def test_an_untouched_chain_has_no_break() -> None:
    assert first_break(_chain(10)) is None


def test_hash_does_not_depend_on_the_time_zone_the_time_is_given_in() -> None:
    fields = _chain(1)[0].fields
    shifted = dataclasses.replace(
        fields, occurred_at=fields.occurred_at.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    )
    assert event_hash(fields) == event_hash(shifted)


ALTERATIONS = {
    "actor_id": lambda f: dataclasses.replace(f, actor_id=None),
    "action": lambda f: dataclasses.replace(f, action="patient.update"),
    "patient_id": lambda f: dataclasses.replace(f, patient_id=uuid.UUID(int=2)),
    "occurred_at": lambda f: dataclasses.replace(f, occurred_at=f.occurred_at + dt.timedelta(seconds=1)),
    "detail": lambda f: dataclasses.replace(f, detail={"n": -1}),
    "client_address": lambda f: dataclasses.replace(f, client_address="10.0.0.1"),
}


@given(position=st.integers(min_value=0, max_value=9), field=st.sampled_from(sorted(ALTERATIONS)))
def test_any_altered_field_of_any_event_is_found_at_that_event(position: int, field: str) -> None:
    events = _chain(10)
    victim = events[position]
    events[position] = dataclasses.replace(victim, fields=ALTERATIONS[field](victim.fields))
    broken = first_break(events)
    assert broken is not None
    assert broken.sequence == position + 1
    assert "altered" in broken.reason


@given(position=st.integers(min_value=0, max_value=8))
def test_a_removed_event_is_found_at_the_gap(position: int) -> None:
    events = _chain(10)
    del events[position]
    broken = first_break(events)
    assert broken is not None
    assert broken.sequence == position + 2
    assert "missing" in broken.reason


def test_a_rewritten_event_with_a_recomputed_hash_still_breaks_the_next_link() -> None:
    events = _chain(5)
    forged = dataclasses.replace(events[2].fields, action="nothing.to.see")
    events[2] = dataclasses.replace(events[2], fields=forged, stored_hash=event_hash(forged))
    broken = first_break(events)
    assert broken is not None and broken.sequence == 4
    assert "link" in broken.reason
