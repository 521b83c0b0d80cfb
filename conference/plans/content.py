"""What a treatment plan says: one immutable version's content. Pure: no I/O and no framework.

Every item carries a short id (``p1``, ``g2``, ``o3``, ``i1``, ``m4``) assigned when it is added, so a
revision can name the item it changes. Ids are never reused: ``issued_ids`` remembers the highest
number given out per kind, so a revision written against an older version can never land on a
different item that happens to have taken the id of one removed since.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

DEFAULT_REVIEW_EVERY_DAYS = 90

# Item kind -> the prefix of its ids.
ID_PREFIXES = {"problem": "p", "goal": "g", "objective": "o", "intervention": "i", "medication": "m"}


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str


class Objective(msgspec.Struct, frozen=True, kw_only=True):
    """A measurable step towards a goal: what is measured, the target, and by when."""

    id: str
    text: str
    measure: str
    target: str
    due: dt.date | None = None


class Goal(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    objectives: list[Objective] = msgspec.field(default_factory=list)


class Intervention(msgspec.Struct, frozen=True, kw_only=True):
    """What is done, by whom (a care-team role such as ``primary_therapist``), how often."""

    id: str
    text: str
    who: str
    frequency: str


class Medication(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    dose: str
    prescriber_id: uuid.UUID | None = None
    instructions: str = ""


class CrisisPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Who leads in a crisis, whom the patient calls, and when the team escalates."""

    lead_person_id: uuid.UUID | None = None
    patient_calls: str = ""
    escalate_when: str = ""


class PlanContent(msgspec.Struct, frozen=True, kw_only=True):
    problems: list[Problem] = msgspec.field(default_factory=list)
    goals: list[Goal] = msgspec.field(default_factory=list)
    interventions: list[Intervention] = msgspec.field(default_factory=list)
    medications: list[Medication] = msgspec.field(default_factory=list)
    crisis_plan: CrisisPlan = msgspec.field(default_factory=CrisisPlan)
    review_every_days: int = DEFAULT_REVIEW_EVERY_DAYS
    # Id prefix -> the highest number issued so far (see the module's docstring).
    issued_ids: dict[str, int] = msgspec.field(default_factory=dict)


def empty_plan() -> PlanContent:
    """The content of a plan's first version when nothing has been decided yet."""
    return PlanContent()


def encode_content(content: PlanContent) -> dict[str, Any]:
    """JSON-ready form, as stored in a plan version."""
    encoded: dict[str, Any] = msgspec.to_builtins(content)
    return encoded


def decode_content(raw: object) -> PlanContent:
    """Stored content back into its structure; raises ``msgspec.ValidationError`` if it does not fit."""
    return msgspec.convert(raw, PlanContent)


def item_ids(content: PlanContent) -> set[str]:
    """Every id in use, objectives included."""
    ids = {item.id for item in content.problems} | {item.id for item in content.goals}
    ids |= {item.id for item in content.interventions} | {item.id for item in content.medications}
    ids |= {objective.id for goal in content.goals for objective in goal.objectives}
    return ids


def next_number(prefix: str, used: set[str], issued: dict[str, int]) -> int:
    """One past the highest number of this prefix ever issued or in use."""
    numbers = [
        int(value[len(prefix) :]) for value in used if value.startswith(prefix) and value[len(prefix) :].isdigit()
    ]
    return max([*numbers, issued.get(prefix, 0)]) + 1
