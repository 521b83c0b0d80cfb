"""Input and output shapes of the minutes capability.

The content travels as a plain JSON object: the service decodes it itself (``content.decode_draft``)
so that every complaint names the section and item it is about.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec


class DraftSave(msgspec.Struct, forbid_unknown_fields=True):
    """A save of a draft, based on the version the editor loaded."""

    version: int
    content: dict[str, Any]


class VersionIn(msgspec.Struct, forbid_unknown_fields=True):
    version: int


class ProblemOut(msgspec.Struct):
    field: str
    message: str


class MinutesSummaryOut(msgspec.Struct):
    """What exists, without what it says."""

    id: uuid.UUID
    meeting_id: uuid.UUID
    occurrence: str  # the occurrence's original start as in room addresses: YYYYmmddTHHMMSSZ
    occurrence_start: dt.datetime
    patient_id: uuid.UUID
    status: Literal["draft", "final"]
    version: int
    document_version: int
    amends_id: uuid.UUID | None
    author_id: uuid.UUID
    updated_at: dt.datetime
    signed_at: dt.datetime | None


class MinutesOut(msgspec.Struct):
    id: uuid.UUID
    meeting_id: uuid.UUID
    occurrence: str
    occurrence_start: dt.datetime
    patient_id: uuid.UUID
    status: Literal["draft", "final"]
    version: int  # send it back with the next save or finalize
    document_version: int  # 1 for the original, 2 for its first amendment, ...
    amends_id: uuid.UUID | None
    amended_by_id: uuid.UUID | None
    author_id: uuid.UUID
    updated_by_id: uuid.UUID
    created_at: dt.datetime
    updated_at: dt.datetime
    signed_by_id: uuid.UUID | None
    signed_at: dt.datetime | None
    content_hash: str | None
    content: dict[str, Any]
    information_classes: list[str]
    redisclosure_notice: str | None  # present on every rendering of minutes that hold Part 2 information
    problems: list[ProblemOut]  # what still stands in the way of finalizing a draft
    people: dict[str, str]  # names of the staff mentioned, by id


class FinalizedOut(msgspec.Struct):
    minutes: MinutesOut
    revision_id: uuid.UUID | None  # the plan revision proposed from these minutes, if any
