"""What minutes say, and whether they are complete enough to sign. Pure: no I/O and no framework.

Two shapes share every section. A draft (``DraftContent``) is saved as the clinician types, so it
accepts anything well-formed, however unfinished: its proposed plan changes are kept as written,
undecoded, because a change half typed (a medication without its dose yet) must still be saved.
Final minutes (``MinutesContent``) hold decoded plan changes, and ``check`` lists every problem
that stands in the way of signing, each in words that say what to do.

Unknown fields are refused, so nothing outside these sections (psychotherapy notes in particular)
can slip into minutes.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from conference.plans.changes import Change, ChangeProblem, decode_changes, encode_changes

ShortText = Annotated[str, msgspec.Meta(max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=24 * 60)]


@dataclass(frozen=True)
class Instrument:
    code: str
    label: str
    low: int | None = None  # None: not scored on a number line
    high: int | None = None
    categories: tuple[str, ...] = ()


INSTRUMENTS: dict[str, Instrument] = {
    instrument.code: instrument
    for instrument in (
        Instrument("phq9", "PHQ-9", 0, 27),
        Instrument("gad7", "GAD-7", 0, 21),
        Instrument("pcl5", "PCL-5", 0, 80),
        Instrument("audit", "AUDIT", 0, 40),
        # The C-SSRS screener is read as a risk category, not added up.
        Instrument("cssrs", "C-SSRS", categories=("none", "low", "moderate", "high")),
        Instrument("other", "Other"),
    )
}

RISK_KINDS: dict[str, str] = {
    "suicide_risk": "Suicide risk",
    "self_harm": "Self-harm",
    "harm_to_others": "Harm to others",
    "substance_use_relapse": "Substance use relapse",
    "medical": "Medical",
    "other": "Other",
}
RISK_LEVELS: tuple[str, ...] = ("low", "moderate", "high")


class _Struct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Attendee(_Struct, frozen=True, kw_only=True):
    """Someone in the meeting: a member of staff (``person_id``) or the patient (``patient``)."""

    name: ShortText = ""
    person_id: uuid.UUID | None = None
    patient: bool = False
    role: ShortText = ""  # a care-team role value, "patient", or the clinician's own role
    minutes_present: Minutes = 0


class AgendaItem(_Struct, frozen=True, kw_only=True):
    title: ShortText = ""
    discussion: LongText = ""


class Measure(_Struct, frozen=True, kw_only=True):
    """A validated scale reviewed in the meeting: its score (or C-SSRS category) and when it was given."""

    instrument: ShortText = ""  # a key of INSTRUMENTS
    name: ShortText = ""  # the scale's name, for "other"
    score: int | None = None
    category: ShortText = ""  # C-SSRS risk category; for "other", a result in words
    administered_on: dt.date | None = None


class ActionItem(_Struct, frozen=True, kw_only=True):
    text: LongText = ""
    owner_id: uuid.UUID | None = None
    due_on: dt.date | None = None
    done: bool = False


class RiskFlag(_Struct, frozen=True, kw_only=True):
    kind: ShortText = ""  # a key of RISK_KINDS
    level: ShortText = ""  # one of RISK_LEVELS
    note: LongText = ""


class _Sections(_Struct, frozen=True, kw_only=True):
    attendees: list[Attendee] = []
    agenda_items: list[AgendaItem] = []
    measures: list[Measure] = []
    decisions: list[LongText] = []
    action_items: list[ActionItem] = []
    risk_flags: list[RiskFlag] = []
    # Marked by the author: the minutes hold substance use treatment information (42 CFR Part 2).
    includes_substance_use: bool = False
    next_review_on: dt.date | None = None


class DraftContent(_Sections, frozen=True, kw_only=True):
    """Minutes as saved while being written; proposed plan changes are kept as typed."""

    proposed_changes: list[dict[str, Any]] = []


class MinutesContent(_Sections, frozen=True, kw_only=True):
    """Minutes ready to sign: plan changes decoded and checked."""

    proposed_changes: list[Change] = []


AnyContent = DraftContent | MinutesContent


@dataclass(frozen=True)
class Problem:
    """Something that must be fixed before the minutes can be finalized."""

    field: str
    message: str


class ContentProblem(ValueError):
    """The content is not well-formed minutes at all; not even a draft can hold it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# ---- reading what was sent ----------------------------------------------------------------------


def decode_draft(raw: object) -> DraftContent:
    """Well-formed minutes, however unfinished. Raises ContentProblem for anything malformed."""
    try:
        return msgspec.convert(raw, DraftContent)
    except msgspec.ValidationError as error:
        raise _structural(str(error)) from None


def decode(raw: object) -> MinutesContent:
    """Minutes with their plan changes decoded. Raises ContentProblem for the first thing malformed."""
    draft = decode_draft(raw)
    try:
        changes = _decoded_changes(draft)
    except ChangeProblem as problem:
        raise ContentProblem(_change_field(problem), str(problem)) from None
    return finished(draft, changes)


def _decoded_changes(draft: DraftContent) -> list[Change]:
    # Minutes need not propose anything; the plans' decoder refuses an empty revision.
    return decode_changes(draft.proposed_changes) if draft.proposed_changes else []


def finished(draft: DraftContent, changes: Sequence[Change]) -> MinutesContent:
    fields = {name: getattr(draft, name) for name in draft.__struct_fields__ if name != "proposed_changes"}
    return MinutesContent(**fields, proposed_changes=list(changes))


def encode(content: AnyContent) -> dict[str, Any]:
    """JSON-ready, in a stable shape: what is stored, hashed and sent."""
    data: dict[str, Any] = msgspec.to_builtins(content)
    if isinstance(content, MinutesContent):
        data["proposed_changes"] = encode_changes(content.proposed_changes)
    return data


def check(
    raw: object,
    *,
    owners: Mapping[uuid.UUID, str] | None = None,
    held_on: dt.date | None = None,
    today: dt.date | None = None,
) -> tuple[MinutesContent | None, list[Problem]]:
    """Everything that stands in the way of signing these minutes (empty when nothing does), and
    the signable content when the list is empty. Raises ContentProblem only for malformed input."""
    draft = decode_draft(raw)
    problems = validate(draft, owners=owners, held_on=held_on, today=today)
    try:
        changes = _decoded_changes(draft)
    except ChangeProblem as problem:
        problems.append(Problem(_change_field(problem), str(problem)))
        return None, problems
    if problems:
        return None, problems
    return finished(draft, changes), []


def _change_field(problem: ChangeProblem) -> str:
    if problem.index is None:
        return "proposed_changes"
    return f"proposed_changes[{problem.index}]" + (f".{problem.field}" if problem.field else "")


# ---- what must be true of minutes before they are signed ----------------------------------------


def validate(
    content: AnyContent,
    *,
    owners: Mapping[uuid.UUID, str] | None = None,
    held_on: dt.date | None = None,
    today: dt.date | None = None,
) -> list[Problem]:
    """Every problem in the sections (plan changes are checked by ``check``).

    ``owners`` are the people who may own an action item (the care team), when known; ``held_on``
    is the day of the meeting and ``today`` the day of signing, in the clinic's zone.
    """
    problems: list[Problem] = []
    problems += _attendee_problems(content.attendees)
    for number, agenda_item in enumerate(content.agenda_items, 1):
        if not agenda_item.title.strip():
            problems.append(
                Problem(
                    f"agenda_items[{number - 1}].title", f"Agenda item {number} needs a title: say what was discussed."
                )
            )
    for number, measure in enumerate(content.measures, 1):
        problems += _measure_problems(number, measure, today)
    for number, decision in enumerate(content.decisions, 1):
        if not decision.strip():
            problems.append(Problem(f"decisions[{number - 1}]", f"Decision {number} is empty: write it or remove it."))
    for number, action_item in enumerate(content.action_items, 1):
        problems += _action_problems(number, action_item, owners)
    for number, flag in enumerate(content.risk_flags, 1):
        problems += _risk_problems(number, flag)
    if content.next_review_on is not None and held_on is not None and content.next_review_on <= held_on:
        problems.append(
            Problem("next_review_on", "The next review date must come after this meeting; choose a later date.")
        )
    return problems


def _attendee_problems(attendees: Sequence[Attendee]) -> list[Problem]:
    if not attendees:
        return [Problem("attendees", "List who attended the meeting.")]
    problems = []
    for number, attendee in enumerate(attendees, 1):
        field = f"attendees[{number - 1}]"
        if not attendee.name.strip():
            problems.append(Problem(f"{field}.name", f"Attendee {number} needs a name."))
        if (attendee.person_id is None) == (not attendee.patient):
            problems.append(
                Problem(field, f"Attendee {number}: choose who this is, a member of staff or the patient, not both.")
            )
    if sum(1 for attendee in attendees if attendee.patient) > 1:
        problems.append(Problem("attendees", "The patient is listed more than once; keep one entry."))
    people = [attendee.person_id for attendee in attendees if attendee.person_id is not None]
    if len(people) != len(set(people)):
        problems.append(Problem("attendees", "Someone is listed more than once; keep one entry for each person."))
    return problems


def _measure_problems(number: int, measure: Measure, today: dt.date | None) -> list[Problem]:
    field = f"measures[{number - 1}]"
    instrument = INSTRUMENTS.get(measure.instrument)
    if instrument is None:
        known = ", ".join(item.label for item in INSTRUMENTS.values())
        return [Problem(f"{field}.instrument", f"Measure {number}: choose the scale ({known}).")]
    problems = []
    label = measure.name.strip() or instrument.label
    if instrument.code == "other":
        if not measure.name.strip():
            problems.append(Problem(f"{field}.name", f"Measure {number}: name the scale that was used."))
        if measure.score is None and not measure.category.strip():
            problems.append(Problem(f"{field}.score", f"Measure {number}: give the {label} score or result."))
    elif instrument.categories:
        if measure.category not in instrument.categories:
            choices = ", ".join(instrument.categories)
            problems.append(
                Problem(f"{field}.category", f"Measure {number}: choose the {label} risk category ({choices}).")
            )
        if measure.score is not None:
            problems.append(
                Problem(f"{field}.score", f"Measure {number}: the {label} is recorded as a category; remove the score.")
            )
    else:
        assert instrument.low is not None and instrument.high is not None
        if measure.score is None:
            problems.append(Problem(f"{field}.score", f"Measure {number}: give the {label} score."))
        elif not instrument.low <= measure.score <= instrument.high:
            problems.append(
                Problem(
                    f"{field}.score",
                    f"Measure {number}: a {label} score is from {instrument.low} to {instrument.high}, "
                    f"not {measure.score}; check the score.",
                )
            )
    if measure.administered_on is None:
        problems.append(Problem(f"{field}.administered_on", f"Measure {number}: give the date the {label} was given."))
    elif today is not None and measure.administered_on > today:
        problems.append(
            Problem(f"{field}.administered_on", f"Measure {number}: the {label} date is in the future; check it.")
        )
    return problems


def _action_problems(number: int, item: ActionItem, owners: Mapping[uuid.UUID, str] | None) -> list[Problem]:
    field = f"action_items[{number - 1}]"
    problems = []
    if not item.text.strip():
        problems.append(
            Problem(f"{field}.text", f"Action item {number} is empty: say what is to be done, or remove it.")
        )
    if item.owner_id is None:
        problems.append(Problem(f"{field}.owner_id", f"Action item {number} needs an owner: choose who will do it."))
    elif owners is not None and item.owner_id not in owners:
        problems.append(
            Problem(
                f"{field}.owner_id",
                f"Action item {number}: its owner is not on the patient's care team; choose someone who is.",
            )
        )
    return problems


def _risk_problems(number: int, flag: RiskFlag) -> list[Problem]:
    field = f"risk_flags[{number - 1}]"
    problems = []
    if flag.kind not in RISK_KINDS:
        kinds = ", ".join(label.lower() for label in RISK_KINDS.values())
        problems.append(Problem(f"{field}.kind", f"Risk flag {number}: choose the kind of risk ({kinds})."))
    if flag.level not in RISK_LEVELS:
        problems.append(Problem(f"{field}.level", f"Risk flag {number}: choose the level ({', '.join(RISK_LEVELS)})."))
    if flag.kind == "other" and not flag.note.strip():
        problems.append(Problem(f"{field}.note", f"Risk flag {number}: describe the risk in the note."))
    return problems


# ---- attendance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    """One stay in the meeting's room; ``person_id`` None is the patient."""

    person_id: uuid.UUID | None
    name: str
    role: str
    joined_at: dt.datetime
    until: dt.datetime  # when they left, or were last seen


def attendees_from_stays(stays: Iterable[Stay]) -> list[Attendee]:
    """One attendee per person, in the order they first joined, with their whole minutes in the
    room. Overlapping stays (two tabs, a rejoin) count once; minutes are rounded down, so time is
    never claimed that was not spent."""
    grouped: dict[uuid.UUID | None, list[Stay]] = {}
    for stay in sorted(stays, key=lambda stay: stay.joined_at):
        grouped.setdefault(stay.person_id, []).append(stay)
    return [
        Attendee(
            name=group[0].name,
            person_id=person_id,
            patient=person_id is None,
            role=group[0].role,
            minutes_present=min(int(_covered_seconds(group) // 60), 24 * 60),
        )
        for person_id, group in grouped.items()
    ]


def _covered_seconds(stays: Sequence[Stay]) -> float:
    total, reach = 0.0, None
    for stay in sorted(stays, key=lambda stay: stay.joined_at):
        start, end = stay.joined_at, max(stay.until, stay.joined_at)
        if reach is None or start >= reach:
            total += (end - start).total_seconds()
            reach = end
        elif end > reach:
            total += (end - reach).total_seconds()
            reach = end
    return total


# ---- saying what is wrong with malformed input ----------------------------------------------------

_SECTION_LABELS = {
    "attendees": "Attendee",
    "agenda_items": "Agenda item",
    "measures": "Measure",
    "decisions": "Decision",
    "action_items": "Action item",
    "risk_flags": "Risk flag",
    "proposed_changes": "Change",
}
_FIELD_LABELS = {
    "owner_id": "owner",
    "person_id": "person",
    "due_on": "due date",
    "administered_on": "date given",
    "minutes_present": "minutes present",
    "next_review_on": "Next review date",
    "includes_substance_use": "The substance use mark",
}
_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.(?P<name>\w+)(?:\[(?P<index>\d+)\])?")


def _structural(text: str) -> ContentProblem:
    match = _PATH.search(text)
    path = match.group("path") if match else ""
    reason = text[: match.start()] if match else text
    field = path.lstrip(".")
    where = _where(path)
    if reason.startswith("Object contains unknown field"):
        name = reason.split("`")[1]
        if "psychotherapy" in name.lower():
            return ContentProblem(
                name,
                "Psychotherapy notes have no place in minutes: they are never shared. Keep them in your own "
                "notes and leave them out of the minutes.",
            )
        owner = f"{where} has" if where else "Minutes have"
        return ContentProblem(f"{field}.{name}".lstrip("."), f"{owner} no field {name!r}; remove it.")
    return ContentProblem(field or "content", f"{where or 'The minutes'}: {_reason(reason)}")


def _where(path: str) -> str:
    parts = []
    for step in _STEP.finditer(path):
        name, index = step.group("name"), step.group("index")
        if index is not None and name in _SECTION_LABELS:
            parts.append(f"{_SECTION_LABELS[name]} {int(index) + 1}")
        else:
            parts.append(_FIELD_LABELS.get(name, name.replace("_", " ")))
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def _reason(reason: str) -> str:
    if "`int`" in reason and ">=" in reason:
        return "must be 0 or more."
    if "`int`" in reason and "<=" in reason:
        return "is too large."
    if "length <=" in reason:
        limit = reason.rsplit("<=", 1)[1].strip()
        return f"is too long; keep it to {limit} characters."
    if "date" in reason:
        return "give a date as YYYY-MM-DD, for example 2026-03-03."
    if "UUID" in reason:
        return "choose a person from the list."
    expected = re.match(r"Expected `(\w+)", reason)
    sentences = {
        "int": "give a whole number.",
        "str": "give text.",
        "bool": "give true or false.",
        "array": "give a list.",
        "object": "give an object with named fields.",
    }
    if expected and expected.group(1) in sentences:
        return sentences[expected.group(1)]
    if reason.startswith("Object missing required field"):
        return f"{_FIELD_LABELS.get(reason.split('`')[1], reason.split('`')[1])} is required."
    return reason.rstrip(".") + "."
