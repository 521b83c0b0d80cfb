"""Input and output shapes of scheduling."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

Kind = Literal["joint_session", "case_review"]
Response = Literal["needs-action", "accepted", "tentative", "declined"]
Minutes = Annotated[int, msgspec.Meta(ge=5, le=480)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]


class ParticipantIn(msgspec.Struct, forbid_unknown_fields=True):
    person_id: uuid.UUID
    required: bool = True


class MeetingCreate(msgspec.Struct, forbid_unknown_fields=True):
    kind: Kind
    patient_id: uuid.UUID
    start: dt.datetime
    duration_minutes: Minutes
    participants: Annotated[list[ParticipantIn], msgspec.Meta(min_length=1, max_length=20)]
    time_zone: str | None = None
    rrule: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    override_reason: Reason | None = None


class Reschedule(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    start: dt.datetime
    duration_minutes: Minutes | None = None
    override_reason: Reason | None = None


class OccurrenceMove(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    recurrence_id: dt.datetime
    start: dt.datetime
    duration_minutes: Minutes | None = None
    this_and_following: bool = False
    override_reason: Reason | None = None


class OccurrenceCancel(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    recurrence_id: dt.datetime


class MeetingCancel(msgspec.Struct, forbid_unknown_fields=True):
    version: int


class ParticipantsChange(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    add: list[ParticipantIn] = msgspec.field(default_factory=list)
    remove: list[uuid.UUID] = msgspec.field(default_factory=list)
    override_reason: Reason | None = None


class ResponseIn(msgspec.Struct, forbid_unknown_fields=True):
    response: Response


class SlotQuery(msgspec.Struct, forbid_unknown_fields=True):
    participants: Annotated[list[ParticipantIn], msgspec.Meta(min_length=1, max_length=20)]
    duration_minutes: Minutes
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 14
    granularity_minutes: Annotated[int, msgspec.Meta(ge=5, le=120)] = 15
    buffer_minutes: Annotated[int, msgspec.Meta(ge=0, le=60)] = 0
    start: dt.datetime | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class WorkingBlock(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    start: dt.time
    end: dt.time


class AvailabilityIn(msgspec.Struct, forbid_unknown_fields=True):
    working_hours: list[WorkingBlock]


class TimeOffIn(msgspec.Struct, forbid_unknown_fields=True):
    start: dt.datetime
    end: dt.datetime


class ExternalCalendarIn(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]


class ParticipantOut(msgspec.Struct):
    person_id: uuid.UUID | None
    name: str
    is_patient: bool
    required: bool
    response: str
    removed: bool
    removed_reason: str | None


class InstanceOut(msgspec.Struct):
    recurrence_id: dt.datetime
    start: dt.datetime
    end: dt.datetime
    cancelled: bool
    moved: bool


class MeetingOut(msgspec.Struct):
    id: uuid.UUID
    kind: str
    patient_id: uuid.UUID
    organizer_id: uuid.UUID
    title: str
    start: dt.datetime
    end: dt.datetime
    time_zone: str
    rrule: str | None
    status: str
    sequence: int
    version: int
    ical_uid: str
    attention: str | None
    conflict_override_reason: str | None
    participants: list[ParticipantOut]
    occurrences: list[InstanceOut]


class SlotOut(msgspec.Struct):
    start: dt.datetime
    end: dt.datetime
    optional_free: list[uuid.UUID]
    optional_busy: list[uuid.UUID]
    local: dict[str, str]  # person id -> the slot's start in that person's own zone, e.g. "Tue 3 Mar 09:00 EST"
