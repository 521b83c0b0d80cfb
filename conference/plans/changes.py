"""Structured changes to a treatment plan, and what they do to a version. Pure: no I/O, no framework.

A revision is a list of changes against one plan version. Each change names the item it changes by
its id; new items get their ids when the changes are applied, so a revision written today still
applies cleanly after it is rebased onto a later version. Every message a person may see names the
change by its position ("Change 2: ...") and says what to do.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import msgspec

from conference.consent.policy import InformationClass
from conference.people.roles import TeamRole
from conference.plans.content import (
    ID_PREFIXES,
    CrisisPlan,
    Goal,
    Intervention,
    Medication,
    Objective,
    PlanContent,
    Problem,
    item_ids,
    next_number,
)

MAX_TEXT = 2000
MAX_NAME = 200
MIN_REVIEW_DAYS = 7
MAX_REVIEW_DAYS = 365


class ChangeProblem(ValueError):
    """A change that cannot be accepted; ``index`` is its position (from 0), or None for the list."""

    def __init__(self, index: int | None, field: str, message: str) -> None:
        self.index = index
        self.field = field
        self.reason = message
        self.message = f"Change {index + 1}: {message}" if index is not None else message
        super().__init__(self.message)

    @property
    def location(self) -> str:
        """Where in a request body the problem is, e.g. ``changes[1].dose``."""
        if self.index is None:
            return self.field
        return f"changes[{self.index}]" + (f".{self.field}" if self.field else "")


# ---- the changes --------------------------------------------------------------------------------


class _Change(msgspec.Struct, frozen=True, kw_only=True, tag_field="op", forbid_unknown_fields=True):
    high_risk: bool = False
    reason: str = ""


class NewObjective(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An objective given with a new goal."""

    text: str
    measure: str
    target: str
    due: dt.date | None = None


class AddProblem(_Change, frozen=True, kw_only=True, tag="add_problem"):
    text: str


class ChangeProblemText(_Change, frozen=True, kw_only=True, tag="change_problem"):
    id: str
    text: str


class RemoveProblem(_Change, frozen=True, kw_only=True, tag="remove_problem"):
    id: str


class AddGoal(_Change, frozen=True, kw_only=True, tag="add_goal"):
    text: str
    objectives: list[NewObjective] = msgspec.field(default_factory=list)


class ChangeGoal(_Change, frozen=True, kw_only=True, tag="change_goal"):
    id: str
    text: str


class RemoveGoal(_Change, frozen=True, kw_only=True, tag="remove_goal"):
    """Removes the goal with its objectives."""

    id: str


class AddObjective(_Change, frozen=True, kw_only=True, tag="add_objective"):
    goal_id: str
    text: str
    measure: str
    target: str
    due: dt.date | None = None


class ChangeObjective(_Change, frozen=True, kw_only=True, tag="change_objective"):
    goal_id: str
    id: str
    text: str
    measure: str
    target: str
    due: dt.date | None = None


class RemoveObjective(_Change, frozen=True, kw_only=True, tag="remove_objective"):
    goal_id: str
    id: str


class AddIntervention(_Change, frozen=True, kw_only=True, tag="add_intervention"):
    text: str
    who: str
    frequency: str


class ChangeIntervention(_Change, frozen=True, kw_only=True, tag="change_intervention"):
    id: str
    text: str
    who: str
    frequency: str


class RemoveIntervention(_Change, frozen=True, kw_only=True, tag="remove_intervention"):
    id: str


class AddMedication(_Change, frozen=True, kw_only=True, tag="add_medication"):
    name: str
    dose: str
    prescriber_id: uuid.UUID | None = None
    instructions: str = ""


class ChangeMedication(_Change, frozen=True, kw_only=True, tag="change_medication"):
    id: str
    name: str
    dose: str
    prescriber_id: uuid.UUID | None = None
    instructions: str = ""


class RemoveMedication(_Change, frozen=True, kw_only=True, tag="remove_medication"):
    id: str


class ChangeCrisisPlan(_Change, frozen=True, kw_only=True, tag="change_crisis_plan"):
    lead_person_id: uuid.UUID | None = None
    patient_calls: str
    escalate_when: str


class ChangeReviewCadence(_Change, frozen=True, kw_only=True, tag="change_review_cadence"):
    review_every_days: int


Change = (
    AddProblem
    | ChangeProblemText
    | RemoveProblem
    | AddGoal
    | ChangeGoal
    | RemoveGoal
    | AddObjective
    | ChangeObjective
    | RemoveObjective
    | AddIntervention
    | ChangeIntervention
    | RemoveIntervention
    | AddMedication
    | ChangeMedication
    | RemoveMedication
    | ChangeCrisisPlan
    | ChangeReviewCadence
)

CHANGE_TYPES: dict[str, type[_Change]] = {
    str(kind.__struct_config__.tag): kind
    for kind in (
        AddProblem,
        ChangeProblemText,
        RemoveProblem,
        AddGoal,
        ChangeGoal,
        RemoveGoal,
        AddObjective,
        ChangeObjective,
        RemoveObjective,
        AddIntervention,
        ChangeIntervention,
        RemoveIntervention,
        AddMedication,
        ChangeMedication,
        RemoveMedication,
        ChangeCrisisPlan,
        ChangeReviewCadence,
    )
}

MEDICATION_CHANGES = (AddMedication, ChangeMedication, RemoveMedication)


def op(change: Change) -> str:
    return str(change.__struct_config__.tag)


# ---- reading and checking -----------------------------------------------------------------------

_TEAM_ROLES = ", ".join(role.value for role in TeamRole)

# What to say when a field is missing or blank: (field, the noun for the change) -> hint.
_HINTS: dict[str, Callable[[str], str]] = {
    "text": lambda noun: f"{noun} needs a description; say it in words the care team will understand.",
    "name": lambda noun: f"{noun} needs the medication's name, e.g. 'sertraline'.",
    "dose": lambda noun: f"{noun} needs a dose, e.g. '50 mg daily'.",
    "measure": lambda noun: f"{noun} needs a measure, e.g. 'PHQ-9 score'.",
    "target": lambda noun: f"{noun} needs a target, e.g. 'below 10'.",
    "who": lambda noun: f"{noun} needs who delivers it: one of the care-team roles {_TEAM_ROLES}.",
    "frequency": lambda noun: f"{noun} needs how often it happens, e.g. 'weekly'.",
    "id": lambda noun: f"{noun} needs the id of the item it changes, e.g. 'g1'.",
    "goal_id": lambda noun: f"{noun} needs the id of the goal it belongs to, e.g. 'g1'.",
    "patient_calls": lambda noun: f"{noun} needs whom the patient calls, e.g. 'the clinic's crisis line, 555-0100'.",
    "escalate_when": lambda noun: f"{noun} needs when the team escalates, e.g. 'any thoughts of self-harm'.",
    "review_every_days": lambda noun: (
        f"{noun} needs the number of days between reviews, from {MIN_REVIEW_DAYS} to {MAX_REVIEW_DAYS}."
    ),
}

_NOUNS = {
    "add_problem": "a new problem",
    "change_problem": "a problem change",
    "remove_problem": "removing a problem",
    "add_goal": "a new goal",
    "change_goal": "a goal change",
    "remove_goal": "removing a goal",
    "add_objective": "a new objective",
    "change_objective": "an objective change",
    "remove_objective": "removing an objective",
    "add_intervention": "a new intervention",
    "change_intervention": "an intervention change",
    "remove_intervention": "removing an intervention",
    "add_medication": "a new medication",
    "change_medication": "a medication change",
    "remove_medication": "removing a medication",
    "change_crisis_plan": "a crisis plan change",
    "change_review_cadence": "a review cadence change",
}

_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`(?: - at `\$(?P<path>[^`]*)`)?")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`")


def decode_changes(raw: object) -> list[Change]:
    """Changes as sent (JSON-like lists and dicts), checked; raises ``ChangeProblem`` for the first problem."""
    if not isinstance(raw, list):
        raise ChangeProblem(None, "changes", "Send the changes as a list, each with an 'op' such as 'add_goal'.")
    decoded: list[Change] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ChangeProblem(index, "", "each change must be an object with an 'op' such as 'add_goal'.")
        kind = CHANGE_TYPES.get(str(item.get("op")))
        if kind is None:
            raise ChangeProblem(
                index, "op", f"{item.get('op')!r} is not a kind of change; use one of {', '.join(CHANGE_TYPES)}."
            )
        try:
            change: Change = msgspec.convert(item, kind)  # type: ignore[assignment]
        except msgspec.ValidationError as error:
            raise _explained(index, str(item["op"]), kind, str(error)) from None
        decoded.append(change)
    validate(decoded)
    return decoded


def _explained(index: int, kind_op: str, kind: type[_Change], error: str) -> ChangeProblem:
    noun = _NOUNS[kind_op]
    if missing := _MISSING.match(error):
        name = missing["field"]
        nested = (missing["path"] or "").lstrip(".")
        whose = _whose(nested, noun)
        hint = _HINTS.get(name)
        message = hint(whose) if hint else f"{whose} needs a value for '{name}'."
        return ChangeProblem(index, f"{nested}.{name}" if nested else name, message)
    if unknown := _UNKNOWN.match(error):
        own = [name for name in kind.__struct_fields__ if name not in ("high_risk", "reason")]
        fields = ", ".join(["op", *own, "high_risk", "reason"])
        return ChangeProblem(
            index, unknown["field"], f"{noun} has no field '{unknown['field']}'; its fields are {fields}."
        )
    at = _AT.search(error)
    where = at["path"] if at else ""
    expected = _EXPECTED.match(error)
    if expected:
        wanted = _WANTED.get(expected["type"], expected["type"])
    elif error.startswith("Invalid UUID"):
        wanted = _WANTED["uuid"]
    elif "date" in error:
        wanted = _WANTED["date"]
    else:
        wanted = "given in another form"
    return ChangeProblem(index, where, f"'{where}' must be {wanted}.")


_EXPECTED = re.compile(r"Expected `(?P<type>[^`]+)`")
_WANTED = {
    "str": "text",
    "int": "a whole number",
    "bool": "true or false",
    "date": "a date such as 2026-06-01",
    "uuid": "the id of a member of staff (a UUID)",
    "array": "a list",
    "object": "an object",
    "str | null": "text, or left out",
    "date | null": "a date such as 2026-06-01, or left out",
    "uuid | null": "the id of a member of staff, or left out",
}


def _whose(nested: str, noun: str) -> str:
    """Who is missing something: the change itself, or one of a new goal's objectives."""
    found = re.fullmatch(r"objectives\[(\d+)\]", nested)
    return f"objective {int(found[1]) + 1} of the new goal" if found else noun


def validate(changes: Sequence[Change]) -> None:
    """Check what the types alone cannot: required words given, lengths, roles, the cadence's range."""
    if not changes:
        raise ChangeProblem(None, "changes", "Add at least one change to the plan.")
    for index, change in enumerate(changes):
        noun = _NOUNS[op(change)]
        for name, value, limit in _texts(change):
            if not value.strip():
                nested, _, last = name.rpartition(".")
                raise ChangeProblem(index, name, _HINTS[last](_whose(nested, noun)))
            if len(value) > limit:
                raise ChangeProblem(index, name, f"'{name}' is too long; keep it under {limit} characters.")
        if len(change.reason) > MAX_TEXT:
            raise ChangeProblem(index, "reason", f"the reason is too long; keep it under {MAX_TEXT} characters.")
        if isinstance(change, AddIntervention | ChangeIntervention) and change.who not in set(TeamRole):
            raise ChangeProblem(index, "who", _HINTS["who"](noun))
        if isinstance(change, ChangeReviewCadence) and not (
            MIN_REVIEW_DAYS <= change.review_every_days <= MAX_REVIEW_DAYS
        ):
            raise ChangeProblem(index, "review_every_days", _HINTS["review_every_days"](noun))


def _texts(change: Change) -> list[tuple[str, str, int]]:
    """The text fields that must not be blank, with their length limits."""
    match change:
        case AddProblem(text=text) | ChangeProblemText(text=text) | ChangeGoal(text=text):
            return [("text", text, MAX_TEXT)]
        case AddGoal(text=text, objectives=objectives):
            found = [("text", text, MAX_TEXT)]
            for number, item in enumerate(objectives):
                found += [
                    (f"objectives[{number}].text", item.text, MAX_TEXT),
                    (f"objectives[{number}].measure", item.measure, MAX_NAME),
                    (f"objectives[{number}].target", item.target, MAX_NAME),
                ]
            return found
        case AddObjective() | ChangeObjective():
            return [
                ("text", change.text, MAX_TEXT),
                ("measure", change.measure, MAX_NAME),
                ("target", change.target, MAX_NAME),
            ]
        case AddIntervention() | ChangeIntervention():
            return [
                ("text", change.text, MAX_TEXT),
                ("who", change.who, MAX_NAME),
                ("frequency", change.frequency, MAX_NAME),
            ]
        case AddMedication() | ChangeMedication():
            return [("name", change.name, MAX_NAME), ("dose", change.dose, MAX_NAME)]
        case ChangeCrisisPlan():
            return [
                ("patient_calls", change.patient_calls, MAX_TEXT),
                ("escalate_when", change.escalate_when, MAX_TEXT),
            ]
    return []


def encode_changes(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """JSON-ready form, with each change's ``op``; ``decode_changes`` reads it back."""
    return [msgspec.to_builtins(change) for change in changes]


# ---- applying -----------------------------------------------------------------------------------


@dataclass
class _Working:
    """A plan being changed, one change at a time, remembering what each change removed."""

    problems: list[Problem]
    goals: list[Goal]
    interventions: list[Intervention]
    medications: list[Medication]
    crisis_plan: CrisisPlan
    review_every_days: int
    issued: dict[str, int]
    used: set[str]
    removed_by: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def of(cls, content: PlanContent) -> _Working:
        return cls(
            problems=list(content.problems),
            goals=list(content.goals),
            interventions=list(content.interventions),
            medications=list(content.medications),
            crisis_plan=content.crisis_plan,
            review_every_days=content.review_every_days,
            issued=dict(content.issued_ids),
            used=item_ids(content),
        )

    def content(self) -> PlanContent:
        return PlanContent(
            problems=list(self.problems),
            goals=list(self.goals),
            interventions=list(self.interventions),
            medications=list(self.medications),
            crisis_plan=self.crisis_plan,
            review_every_days=self.review_every_days,
            issued_ids=dict(sorted(self.issued.items())),
        )

    def new_id(self, kind: str) -> str:
        prefix = ID_PREFIXES[kind]
        number = next_number(prefix, self.used, self.issued)
        self.issued[prefix] = number
        self.used.add(f"{prefix}{number}")
        return f"{prefix}{number}"

    def position(self, items: Sequence[Any], kind: str, item_id: str, index: int, field_name: str = "id") -> int:
        """Where the item with this id is; a missing one is explained (removed earlier, or unknown)."""
        for position, item in enumerate(items):
            if item.id == item_id:
                return position
        earlier = self.removed_by.get((kind, item_id))
        if earlier is not None:
            raise ChangeProblem(index, field_name, f"{kind} {item_id} is already removed by change {earlier + 1}.")
        known = [item.id for item in items]
        choices = f"choose one of {', '.join(known)}" if known else f"the plan has no {kind}s yet"
        raise ChangeProblem(
            index,
            field_name,
            f"there is no {kind} {item_id} in this version of the plan (it may have been removed already); {choices}.",
        )


def apply(content: PlanContent, changes: Sequence[Change]) -> PlanContent:
    """The content after the changes, in order; raises ``ChangeProblem`` for a change that does not fit."""
    validate(changes)
    working = _Working.of(content)
    for index, change in enumerate(changes):
        _apply_one(working, index, change)
    return working.content()


def _apply_one(plan: _Working, index: int, change: Change) -> None:
    match change:
        case AddProblem(text=text):
            plan.problems.append(Problem(id=plan.new_id("problem"), text=text.strip()))
        case ChangeProblemText(id=item_id, text=text):
            _replace(plan, plan.problems, "problem", index, Problem(id=item_id, text=text.strip()))
        case AddGoal() | ChangeGoal() | RemoveGoal():
            _apply_goal(plan, index, change)
        case AddObjective() | ChangeObjective() | RemoveObjective():
            _apply_objective(plan, index, change)
        case AddIntervention():
            plan.interventions.append(_intervention(change, plan.new_id("intervention")))
        case ChangeIntervention(id=item_id):
            _replace(plan, plan.interventions, "intervention", index, _intervention(change, item_id))
        case AddMedication():
            plan.medications.append(_medication(change, plan.new_id("medication")))
        case ChangeMedication(id=item_id):
            _replace(plan, plan.medications, "medication", index, _medication(change, item_id))
        case RemoveProblem(id=item_id):
            _remove(plan, plan.problems, "problem", item_id, index)
        case RemoveIntervention(id=item_id):
            _remove(plan, plan.interventions, "intervention", item_id, index)
        case RemoveMedication(id=item_id):
            _remove(plan, plan.medications, "medication", item_id, index)
        case ChangeCrisisPlan():
            crisis_plan = CrisisPlan(
                lead_person_id=change.lead_person_id,
                patient_calls=change.patient_calls.strip(),
                escalate_when=change.escalate_when.strip(),
            )
            if crisis_plan == plan.crisis_plan:
                raise ChangeProblem(index, "", "the crisis plan already reads like this; nothing would change.")
            plan.crisis_plan = crisis_plan
        case ChangeReviewCadence(review_every_days=days):
            if days == plan.review_every_days:
                raise ChangeProblem(
                    index, "review_every_days", f"the plan is already reviewed every {days} days; nothing would change."
                )
            plan.review_every_days = days


_Item = TypeVar("_Item", Problem, Goal, Intervention, Medication)


def _replace(plan: _Working, items: list[_Item], kind: str, index: int, updated: _Item) -> None:
    position = plan.position(items, kind, updated.id, index)
    if items[position] == updated:
        raise ChangeProblem(index, "", f"{kind} {updated.id} already reads like this; nothing would change.")
    items[position] = updated


def _remove(plan: _Working, items: list[_Item], kind: str, item_id: str, index: int) -> _Item:
    removed = items.pop(plan.position(items, kind, item_id, index))
    plan.removed_by[(kind, item_id)] = index
    return removed


def _apply_goal(plan: _Working, index: int, change: AddGoal | ChangeGoal | RemoveGoal) -> None:
    if isinstance(change, AddGoal):
        goal_id = plan.new_id("goal")
        objectives = [
            Objective(
                id=plan.new_id("objective"),
                text=item.text.strip(),
                measure=item.measure.strip(),
                target=item.target.strip(),
                due=item.due,
            )
            for item in change.objectives
        ]
        plan.goals.append(Goal(id=goal_id, text=change.text.strip(), objectives=objectives))
    elif isinstance(change, ChangeGoal):
        current = plan.goals[plan.position(plan.goals, "goal", change.id, index)]
        _replace(
            plan, plan.goals, "goal", index, Goal(id=change.id, text=change.text.strip(), objectives=current.objectives)
        )
    else:
        removed = _remove(plan, plan.goals, "goal", change.id, index)
        for objective in removed.objectives:
            plan.removed_by[("objective", objective.id)] = index


def _apply_objective(plan: _Working, index: int, change: AddObjective | ChangeObjective | RemoveObjective) -> None:
    position = plan.position(plan.goals, "goal", change.goal_id, index, "goal_id")
    goal = plan.goals[position]
    objectives = list(goal.objectives)
    if isinstance(change, AddObjective):
        objectives.append(_objective(change, plan.new_id("objective")))
    else:
        place = _objective_position(plan, goal, change.id, index)
        if isinstance(change, ChangeObjective):
            updated = _objective(change, change.id)
            if objectives[place] == updated:
                raise ChangeProblem(index, "", f"objective {change.id} already reads like this; nothing would change.")
            objectives[place] = updated
        else:
            objectives.pop(place)
            plan.removed_by[("objective", change.id)] = index
    plan.goals[position] = Goal(id=goal.id, text=goal.text, objectives=objectives)


def _objective_position(plan: _Working, goal: Goal, item_id: str, index: int) -> int:
    for place, objective in enumerate(goal.objectives):
        if objective.id == item_id:
            return place
    earlier = plan.removed_by.get(("objective", item_id))
    if earlier is not None:
        raise ChangeProblem(index, "id", f"objective {item_id} is already removed by change {earlier + 1}.")
    known = ", ".join(objective.id for objective in goal.objectives)
    choices = f"its objectives are {known}" if known else "it has no objectives yet"
    raise ChangeProblem(index, "id", f"goal {goal.id} has no objective {item_id}; {choices}.")


def _objective(change: AddObjective | ChangeObjective, item_id: str) -> Objective:
    return Objective(
        id=item_id,
        text=change.text.strip(),
        measure=change.measure.strip(),
        target=change.target.strip(),
        due=change.due,
    )


def _intervention(change: AddIntervention | ChangeIntervention, item_id: str) -> Intervention:
    return Intervention(id=item_id, text=change.text.strip(), who=change.who, frequency=change.frequency.strip())


def _medication(change: AddMedication | ChangeMedication, item_id: str) -> Medication:
    return Medication(
        id=item_id,
        name=change.name.strip(),
        dose=change.dose.strip(),
        prescriber_id=change.prescriber_id,
        instructions=change.instructions.strip(),
    )


# ---- what kind of change it is ------------------------------------------------------------------


def touches_medication(changes: Sequence[Change]) -> bool:
    return any(isinstance(change, MEDICATION_CHANGES) for change in changes)


def touches_crisis_plan(changes: Sequence[Change]) -> bool:
    return any(isinstance(change, ChangeCrisisPlan) for change in changes)


def is_high_risk(changes: Sequence[Change]) -> bool:
    return any(change.high_risk for change in changes)


def information_classes(changes: Sequence[Change]) -> set[InformationClass]:
    """What kinds of information the changes disclose to whoever reads them."""
    classes = {InformationClass.GENERAL}
    if touches_medication(changes):
        classes.add(InformationClass.MEDICATION)
    return classes


def person_ids(changes: Sequence[Change]) -> set[uuid.UUID]:
    """Everyone the changes name (prescribers, the crisis lead), to check and to name in a diff."""
    named: set[uuid.UUID] = set()
    for change in changes:
        if isinstance(change, AddMedication | ChangeMedication) and change.prescriber_id is not None:
            named.add(change.prescriber_id)
        if isinstance(change, ChangeCrisisPlan) and change.lead_person_id is not None:
            named.add(change.lead_person_id)
    return named


# ---- a readable diff ----------------------------------------------------------------------------

DiffKind = Literal["added", "changed", "removed"]


@dataclass(frozen=True)
class DiffLine:
    kind: DiffKind
    section: str
    before: str | None
    after: str | None
    high_risk: bool
    reason: str = ""


def describe(
    base: PlanContent, changes: Sequence[Change], *, names: Mapping[uuid.UUID, str] | None = None
) -> list[DiffLine]:
    """One line per change, in words; ``names`` names the people a change mentions.

    Describes what it can: a change that does not fit ``base`` (the plan moved on) is still shown,
    with what it asks for and nothing before it.
    """
    people = names or {}
    plan = _Working.of(base)
    lines: list[DiffLine] = []
    for index, change in enumerate(changes):
        before = plan.content()
        try:
            _apply_one(plan, index, change)
        except ChangeProblem:
            plan = _Working.of(before)
            lines.append(_line(change, None, None, people, fits=False))
            continue
        lines.append(_line(change, before, plan.content(), people, fits=True))
    return lines


def _line(
    change: Change, before: PlanContent | None, after: PlanContent | None, names: Mapping[uuid.UUID, str], *, fits: bool
) -> DiffLine:
    kind: DiffKind = (
        "added" if op(change).startswith("add_") else "removed" if op(change).startswith("remove_") else "changed"
    )
    section, old, new = _words(change, before, after, names)
    if not fits and kind != "added":
        old = None
    return DiffLine(kind=kind, section=section, before=old, after=new, high_risk=change.high_risk, reason=change.reason)


def _words(
    change: Change, before: PlanContent | None, after: PlanContent | None, names: Mapping[uuid.UUID, str]
) -> tuple[str, str | None, str | None]:
    """The section a change is in, and the item before and after it, in words."""
    match change:
        case AddProblem(text=text):
            return "Problem", None, text.strip()
        case ChangeProblemText(id=item_id, text=text):
            return "Problem", _find_text(before, "problems", item_id, lambda item: item.text), text.strip()
        case RemoveProblem(id=item_id):
            return "Problem", _find_text(before, "problems", item_id, lambda item: item.text) or item_id, None
        case AddGoal(text=text, objectives=objectives):
            parts = [text.strip()] + [
                _objective_words(item.text, item.measure, item.target, item.due) for item in objectives
            ]
            return "Goal", None, "; objective: ".join(parts)
        case ChangeGoal(id=item_id, text=text):
            return "Goal", _find_text(before, "goals", item_id, lambda item: item.text), text.strip()
        case RemoveGoal(id=item_id):
            return "Goal", _find_text(before, "goals", item_id, lambda item: item.text) or item_id, None
        case AddObjective(goal_id=goal_id) | ChangeObjective(goal_id=goal_id) | RemoveObjective(goal_id=goal_id):
            goal_text = _find_text(before, "goals", goal_id, lambda item: item.text) or goal_id
            section = f"Objective of the goal '{goal_text}'"
            old = _objective_before(before, goal_id, getattr(change, "id", ""))
            if isinstance(change, RemoveObjective):
                return section, old or change.id, None
            new = _objective_words(change.text, change.measure, change.target, change.due)
            return section, None if isinstance(change, AddObjective) else old, new
        case AddIntervention() | ChangeIntervention():
            old = None
            if isinstance(change, ChangeIntervention):
                old = _find_text(before, "interventions", change.id, _intervention_words)
            return "Intervention", old, _intervention_words(change)
        case RemoveIntervention(id=item_id):
            return "Intervention", _find_text(before, "interventions", item_id, _intervention_words) or item_id, None
        case AddMedication() | ChangeMedication():
            old = None
            if isinstance(change, ChangeMedication):
                old = _find_text(before, "medications", change.id, lambda item: _medication_words(item, names))
            return "Medication", old, _medication_words(change, names)
        case RemoveMedication(id=item_id):
            old = _find_text(before, "medications", item_id, lambda item: _medication_words(item, names))
            return "Medication", old or item_id, None
        case ChangeCrisisPlan():
            old = _crisis_words(before.crisis_plan, names) if before is not None else None
            return "Crisis and escalation plan", old, _crisis_words(change, names)
        case ChangeReviewCadence(review_every_days=days):
            old = f"every {before.review_every_days} days" if before is not None else None
            return "Review cadence", old, f"every {days} days"
    raise TypeError(f"unknown change {change!r}")


def _find_text(content: PlanContent | None, section: str, item_id: str, words: Callable[[Any], str]) -> str | None:
    if content is None:
        return None
    for item in getattr(content, section):
        if item.id == item_id:
            return words(item)
    return None


def _objective_before(content: PlanContent | None, goal_id: str, item_id: str) -> str | None:
    if content is None:
        return None
    for goal in content.goals:
        if goal.id == goal_id:
            for item in goal.objectives:
                if item.id == item_id:
                    return _objective_words(item.text, item.measure, item.target, item.due)
    return None


def _objective_words(text: str, measure: str, target: str, due: dt.date | None) -> str:
    by = f", by {due.day} {due:%B %Y}" if due else ""
    return f"{text.strip()} ({measure.strip()}: {target.strip()}{by})"


def _intervention_words(item: Intervention | AddIntervention | ChangeIntervention) -> str:
    try:
        who = TeamRole(item.who).label.lower()
    except ValueError:
        who = item.who
    return f"{item.text.strip()}: {who}, {item.frequency.strip()}"


def _medication_words(item: Medication | AddMedication | ChangeMedication, names: Mapping[uuid.UUID, str]) -> str:
    words = f"{item.name.strip()} {item.dose.strip()}"
    if item.instructions.strip():
        words += f"; {item.instructions.strip()}"
    if item.prescriber_id is not None:
        words += f" (prescriber: {names.get(item.prescriber_id, 'someone no longer on record')})"
    return words


def _crisis_words(plan: CrisisPlan | ChangeCrisisPlan, names: Mapping[uuid.UUID, str]) -> str:
    lead = names.get(plan.lead_person_id, "someone no longer on record") if plan.lead_person_id else "nobody named"
    calls = plan.patient_calls.strip() or "not said"
    escalate = plan.escalate_when.strip() or "not said"
    return f"led by {lead}; the patient calls {calls}; escalate when {escalate}"
