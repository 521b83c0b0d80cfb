"""Minutes pages: opened from a meeting or its room, the draft editor, signing, the signed view.

The editor is one ordinary form, so it works without JavaScript: "Save draft" posts it and comes
back; "Add ..." and "Remove" buttons post it too, and the server saves the draft with the row added
or removed; a save based on an older version shows both versions to reconcile. With JavaScript,
``web/static/js/minutes.js`` saves the same content through the JSON API as the clinician types.
The field names (``agenda_items-0-title``) and what they become are shared by both.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from conference.consent.service import ConsentMissing
from conference.errors import Conflict, DomainError, InvalidInput, StaleEdit
from conference.http import CallerDep, DbSession, SettingsDep, recover
from conference.minutes import content as minutes_content
from conference.minutes import service
from conference.minutes.content import INSTRUMENTS, RISK_KINDS, RISK_LEVELS, ContentProblem, Problem
from conference.minutes.service import IncompleteMinutes, SharedMinutes
from conference.people import service as people
from conference.people.models import CareTeamMember, Patient
from conference.people.roles import TeamRole
from conference.people.service import Caller, sorted_team
from conference.plans import service as plans
from conference.plans.change_kinds import CHANGE_GROUPS, OP_LABELS
from conference.plans.changes import CHANGE_TYPES
from conference.rtc.service import parse_occurrence

# ---- what the editor shows ----------------------------------------------------------------------

SECTIONS: list[tuple[str, str]] = [
    ("attendees", "Attendees"),
    ("agenda_items", "Agenda"),
    ("measures", "Measures reviewed"),
    ("decisions", "Decisions"),
    ("action_items", "Action items"),
    ("proposed_changes", "Proposed plan changes"),
    ("risk_flags", "Risk flags"),
    ("details", "Substance use and next review"),
]
LIST_SECTIONS = ("attendees", "agenda_items", "measures", "decisions", "action_items", "proposed_changes", "risk_flags")
ROW_NOUNS = {
    "attendees": "attendee",
    "agenda_items": "agenda item",
    "measures": "measure",
    "decisions": "decision",
    "action_items": "action item",
    "proposed_changes": "plan change",
    "risk_flags": "risk flag",
}


@dataclass(frozen=True)
class ChangeField:
    """One field of the plan-change sub-form, shown for the kinds of change that have it."""

    name: str
    label: str
    kind: str  # text, textarea, date, number, person, team_role, item, goal
    hint: str | None = None
    optional: bool = False
    ops: tuple[str, ...] = field(default=())


def _change_fields() -> list[ChangeField]:
    specs = [
        ("id", "Which item", "item", "Its id in the current plan, for example m1 or g2.", False),
        ("goal_id", "Which goal", "goal", "The goal's id in the current plan, for example g1.", False),
        ("name", "Medication", "text", "For example sertraline.", False),
        ("dose", "Dose", "text", "For example 50 mg daily.", False),
        ("prescriber_id", "Prescriber", "person", None, True),
        ("instructions", "Instructions", "text", None, True),
        ("text", "Description", "textarea", None, False),
        ("measure", "Measure", "text", "For example PHQ-9 score.", False),
        ("target", "Target", "text", "For example below 10.", False),
        ("due", "Due by", "date", None, True),
        ("who", "Who delivers it", "team_role", None, False),
        ("frequency", "How often", "text", "For example weekly.", False),
        ("lead_person_id", "Crisis lead", "person", None, True),
        (
            "patient_calls",
            "Whom the patient calls",
            "textarea",
            "For example the clinic's crisis line, 555-0100.",
            False,
        ),
        ("escalate_when", "When the team escalates", "textarea", "For example any thoughts of self-harm.", False),
        ("review_every_days", "Review every (days)", "number", "From 7 to 365 days.", False),
    ]
    return [
        ChangeField(
            name,
            label,
            kind,
            hint,
            optional,
            tuple(op for op, kind_type in CHANGE_TYPES.items() if name in kind_type.__struct_fields__),
        )
        for name, label, kind, hint, optional in specs
    ]


CHANGE_FIELDS = _change_fields()
# A new goal may come with its first objective.
OBJECTIVE_FIELDS = [
    ChangeField("objective_text", "First objective", "textarea", None, True, ("add_goal",)),
    ChangeField("objective_measure", "Its measure", "text", "For example PHQ-9 score.", True, ("add_goal",)),
    ChangeField("objective_target", "Its target", "text", "For example below 10.", True, ("add_goal",)),
    ChangeField("objective_due", "Due by", "date", None, True, ("add_goal",)),
]
_CHANGE_TYPED = {item.name: item.kind for item in CHANGE_FIELDS}

DONE_MESSAGES = {
    "saved": "Draft saved.",
    "added": "Added. Fill it in and save the draft.",
    "removed": "Removed and the draft saved.",
    "reconciled": "Saved with your choices. Check the minutes and carry on.",
    "finalized": "Signed. These minutes are final.",
    "amended": "This is a new version that will replace the signed one once you sign it.",
}


def _see_other(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


# ---- reading the posted form --------------------------------------------------------------------

_ROW_FIELD = re.compile(r"^(?P<section>[a-z_]+)-(?P<index>\d{1,6})-(?P<field>[a-z_]+)$")


@dataclass(frozen=True)
class Team:
    """Whom the minutes may name: the patient's active care team, and the patient."""

    patient: Patient
    members: list[CareTeamMember]

    def member(self, person_id: str) -> CareTeamMember | None:
        return next((member for member in self.members if str(member.person_id) == person_id), None)

    @property
    def names(self) -> dict[str, str]:
        return {str(member.person_id): member.person.name for member in self.members}


def _posted_rows(form: FormMultiDict) -> dict[str, list[tuple[int, dict[str, str]]]]:
    """Each list section's rows, in the order of their numbers, each as field -> value."""
    found: dict[str, dict[int, dict[str, str]]] = {}
    for key, value in form.multi_items():
        match = _ROW_FIELD.match(key)
        if match and match["section"] in LIST_SECTIONS and isinstance(value, str):
            found.setdefault(match["section"], {}).setdefault(int(match["index"]), {})[match["field"]] = value
    return {section: sorted(rows.items()) for section, rows in found.items()}


def _whole(value: str) -> int | str | None:
    """A whole number as typed; anything else is kept, so the draft's check names the field."""
    text = value.strip()
    if not text:
        return None
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


def _blank_none(value: str) -> str | None:
    return value.strip() or None


def _attendee(row: Mapping[str, str], team: Team, number: int) -> dict[str, Any]:
    who = row.get("who", "")
    if who == "patient":
        identity: dict[str, Any] = {"name": team.patient.name, "person_id": None, "patient": True, "role": "patient"}
    elif who:
        member = team.member(who)
        if member is None:
            raise InvalidInput(f"attendees[{number}].who", f"Attendee {number + 1}: choose someone on the care team.")
        identity = {
            "name": member.person.name,
            "person_id": str(member.person_id),
            "patient": False,
            "role": member.role.value,
        }
    else:
        identity = {
            "name": row.get("name", ""),
            "person_id": _blank_none(row.get("person_id", "")),
            "patient": row.get("patient") == "true",
            "role": row.get("role", ""),
        }
    minutes_present = _whole(row.get("minutes_present", ""))
    return {**identity, "minutes_present": 0 if minutes_present is None else minutes_present}


def _change(row: Mapping[str, str]) -> dict[str, Any]:
    """A plan change as typed, with only the fields its kind has: kept undecoded in the draft."""
    op = row.get("op", "").strip()
    kind = CHANGE_TYPES.get(op)
    change: dict[str, Any] = {"op": op}
    if kind is not None:
        for name in kind.__struct_fields__:
            if name in ("high_risk", "reason", "objectives"):
                continue
            value = row.get(name, "")
            typed = _CHANGE_TYPED.get(name, "text")
            if typed in ("person", "date"):
                if value.strip():
                    change[name] = value.strip()
            elif typed == "number":
                number = _whole(value)
                if number is not None:
                    change[name] = number
            else:
                change[name] = value
        if op == "add_goal":
            objective = {key: row.get(f"objective_{key}", "") for key in ("text", "measure", "target")}
            due = row.get("objective_due", "").strip()
            if any(value.strip() for value in objective.values()) or due:
                change["objectives"] = [{**objective, **({"due": due} if due else {})}]
    change["high_risk"] = row.get("high_risk") == "on"
    change["reason"] = row.get("reason", "")
    return change


def content_from_form(form: FormMultiDict, team: Team, *, without: tuple[str, int] | None = None) -> dict[str, Any]:
    """The draft content the editor posted (``without`` one row, by section and number)."""
    rows = _posted_rows(form)

    def section(name: str) -> list[Mapping[str, str]]:
        return [row for index, row in rows.get(name, []) if (name, index) != without]

    return {
        "attendees": [_attendee(row, team, number) for number, row in enumerate(section("attendees"))],
        "agenda_items": [
            {"title": row.get("title", ""), "discussion": row.get("discussion", "")} for row in section("agenda_items")
        ],
        "measures": [
            {
                "instrument": row.get("instrument", ""),
                "name": row.get("name", ""),
                "score": _whole(row.get("score", "")),
                "category": row.get("category", ""),
                "administered_on": _blank_none(row.get("administered_on", "")),
            }
            for row in section("measures")
        ],
        "decisions": [row.get("text", "") for row in section("decisions")],
        "action_items": [
            {
                "text": row.get("text", ""),
                "owner_id": _blank_none(row.get("owner_id", "")),
                "due_on": _blank_none(row.get("due_on", "")),
                "done": row.get("done") == "on",
            }
            for row in section("action_items")
        ],
        "proposed_changes": [_change(row) for row in section("proposed_changes")],
        "risk_flags": [
            {"kind": row.get("kind", ""), "level": row.get("level", ""), "note": row.get("note", "")}
            for row in section("risk_flags")
        ],
        "includes_substance_use": form.get("includes_substance_use") == "on",
        "next_review_on": _blank_none(str(form.get("next_review_on", ""))),
    }


def empty_row(section: str, op: str = "") -> Any:
    """What "Add ..." adds: an empty row, saved in the draft like any other."""
    rows: dict[str, Any] = {
        "attendees": {"name": "", "person_id": None, "patient": False, "role": "", "minutes_present": 0},
        "agenda_items": {"title": "", "discussion": ""},
        "measures": {"instrument": "", "name": "", "score": None, "category": "", "administered_on": None},
        "decisions": "",
        "action_items": {"text": "", "owner_id": None, "due_on": None, "done": False},
        "proposed_changes": {"op": op if op in CHANGE_TYPES else "", "high_risk": False, "reason": ""},
        "risk_flags": {"kind": "", "level": "", "note": ""},
    }
    return rows[section]


@dataclass(frozen=True)
class RowAction:
    """What a posted editor button asks for besides saving."""

    kind: str  # save, finalize, add, remove
    section: str = ""
    index: int = -1


def row_action(value: str) -> RowAction:
    parts = value.split(":")
    if parts[0] == "add" and len(parts) == 2 and parts[1] in LIST_SECTIONS:
        return RowAction("add", parts[1])
    if parts[0] == "remove" and len(parts) == 3 and parts[1] in LIST_SECTIONS and parts[2].isdigit():
        return RowAction("remove", parts[1], int(parts[2]))
    return RowAction("finalize" if value == "finalize" else "save")


def _version(form: FormMultiDict) -> int:
    value = str(form.get("version", ""))
    if not value.isdigit():
        raise InvalidInput("version", "The form is missing its version; reload the page and try again.")
    return int(value)


# ---- problems, placed next to their fields ------------------------------------------------------


def problem_key(field_path: str) -> str:
    """A problem's field as the editor names it: ``action_items[1].owner_id`` -> ``action_items-1-owner_id``."""
    key = re.sub(r"\.objectives\[\d+\]\.", ".objective_", field_path)
    key = re.sub(r"\[(\d+)\]", r"-\1", key)
    return key.replace(".", "-")


def problems_by_key(problems: Sequence[Problem]) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {}
    for problem in problems:
        placed.setdefault(problem_key(problem.field), []).append(problem.message)
    return placed


# ---- building pages -----------------------------------------------------------------------------


async def _team(db_session: AsyncSession, caller: Caller, patient_id: uuid.UUID) -> Team:
    patient = await people.patient_for_clinician(db_session, caller, patient_id)
    return Team(patient, [member for member in sorted_team(patient) if member.person.active])


async def _plan_items(
    db_session: AsyncSession, caller: Caller, patient_id: uuid.UUID
) -> dict[str, list[tuple[str, str]]]:
    """The current plan's items by id, offered where a change names the item it changes."""
    try:
        plan = (await plans.get_plan(db_session, caller, patient_id)).content
    except DomainError:
        return {"items": [], "goals": []}
    items = [(item.id, f"Problem: {item.text}") for item in plan.problems]
    items += [(item.id, f"Goal: {item.text}") for item in plan.goals]
    items += [(item.id, f"Objective: {item.text}") for goal in plan.goals for item in goal.objectives]
    items += [(item.id, f"Intervention: {item.text}") for item in plan.interventions]
    items += [(item.id, f"Medication: {item.name} {item.dose}") for item in plan.medications]
    return {"items": items, "goals": [(item.id, item.text) for item in plan.goals]}


def _when(minutes_start: dt.datetime, caller: Caller) -> dt.datetime:
    return minutes_start.astimezone(ZoneInfo(caller.person.time_zone))


def _choices(team: Team) -> dict[str, Any]:
    """The lists the editor and the readable views draw their options and words from."""
    return {
        "sections": SECTIONS,
        "row_nouns": ROW_NOUNS,
        "instruments": [(code, item.label) for code, item in INSTRUMENTS.items()],
        "instrument_labels": {code: item.label for code, item in INSTRUMENTS.items()},
        "cssrs_categories": INSTRUMENTS["cssrs"].categories,
        "risk_kinds": list(RISK_KINDS.items()),
        "risk_labels": RISK_KINDS,
        "risk_levels": [(level, level.capitalize()) for level in RISK_LEVELS],
        "change_groups": CHANGE_GROUPS,
        "op_labels": OP_LABELS,
        "change_fields": CHANGE_FIELDS,
        "objective_fields": OBJECTIVE_FIELDS,
        "team_roles": [(role.value, role.label) for role in TeamRole],
        "role_labels": {**{role.value: role.label for role in TeamRole}, "patient": "Patient"},
        "team_people": [
            (str(member.person_id), f"{member.person.name} ({member.role.label})") for member in team.members
        ],
        "team_members": team.members,
        "js_labels": {
            "ops": OP_LABELS,
            "op_fields": {
                op: [name for name in kind.__struct_fields__ if name not in ("high_risk", "reason", "objectives")]
                for op, kind in CHANGE_TYPES.items()
            },
            "field_kinds": {item.name: item.kind for item in CHANGE_FIELDS},
            "field_labels": {item.name: item.label for item in CHANGE_FIELDS},
            "instruments": {code: item.label for code, item in INSTRUMENTS.items()},
            "risks": RISK_KINDS,
            "roles": {**{role.value: role.label for role in TeamRole}, "patient": "Patient"},
            "sections": dict(SECTIONS),
        },
    }


async def _context(db_session: AsyncSession, caller: Caller, shared: SharedMinutes, team: Team) -> dict[str, Any]:
    minutes = shared.minutes
    names = {str(key): value for key, value in (await service.names_for(db_session, minutes)).items()}
    kind = await service.meeting_kind(db_session, minutes)
    return {
        "caller": caller,
        "minutes": minutes,
        "shared": shared,
        "patient": team.patient,
        "kind_label": "Joint session" if kind == "joint_session" else "Case review",
        "held_at": _when(minutes.occurrence_start, caller),
        "names": {**names, **team.names},
        **_choices(team),
    }


async def _editor(
    db_session: AsyncSession,
    caller: Caller,
    shared: SharedMinutes,
    *,
    content: Mapping[str, Any] | None = None,
    problems: Sequence[Problem] = (),
    error: DomainError | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    minutes = shared.minutes
    team = await _team(db_session, caller, minutes.patient_id)
    # What was posted, as typed, when a save was refused; else what is stored.
    shown = (
        dict(content) if content is not None else minutes_content.encode(minutes_content.decode_draft(minutes.content))
    )
    # A refused save names one field; finalizing lists every problem, each also shown at the top.
    beside = list(problems) or ([Problem(error.field, error.message)] if isinstance(error, InvalidInput) else [])
    return Template(
        template_name="minutes/editor.html.j2",
        context={
            **await _context(db_session, caller, shared, team),
            "content": shown,
            "problems": problems_by_key(beside),
            "problem_list": [(problem_key(problem.field), problem.message) for problem in problems],
            "error": error,
            "done": DONE_MESSAGES.get(done or ""),
            "plan": await _plan_items(db_session, caller, minutes.patient_id),
        },
        status_code=status_code,
    )


async def _reconcile(
    db_session: AsyncSession,
    caller: Caller,
    minutes_id: uuid.UUID,
    mine: Mapping[str, Any],
    stale: StaleEdit,
) -> Template:
    """Both versions, section by section, to choose from: nothing is overwritten unseen. "Theirs"
    is the draft as it is now, read afresh (it may have moved on since the refusal)."""
    await recover(db_session, caller)
    shared = await service.read_minutes(db_session, caller, minutes_id)
    current = shared.minutes
    if current.is_final:
        return _problem_page(caller, Conflict(service.ALREADY_FINAL), "These minutes were signed meanwhile")
    team = await _team(db_session, caller, current.patient_id)
    context = await _context(db_session, caller, shared, team)
    theirs = minutes_content.encode(minutes_content.decode_draft(current.content))
    try:
        mine_shown = minutes_content.encode(minutes_content.decode_draft(mine))
    except ContentProblem as problem:
        raise InvalidInput(problem.field, problem.message) from None
    return Template(
        template_name="minutes/reconcile.html.j2",
        context={
            **context,
            "message": stale.message,
            "mine": mine_shown,
            "theirs": theirs,
            "differs": {key: _section(mine_shown, key) != _section(theirs, key) for key, _ in SECTIONS},
            "their_version": current.version,
            "their_author": context["names"].get(str(current.updated_by_id), "Someone"),
            "their_time": _when(current.updated_at, caller),
            "mine_json": json.dumps(mine_shown, sort_keys=True),
            "theirs_json": json.dumps(theirs, sort_keys=True),
        },
        status_code=409,
    )


def _section(content: Mapping[str, Any], key: str) -> Any:
    if key == "details":
        return [content.get("includes_substance_use"), content.get("next_review_on")]
    return content.get(key)


def merge(mine: Mapping[str, Any], theirs: Mapping[str, Any], keep_mine: set[str]) -> dict[str, Any]:
    """Their content, with the sections the editor chose to keep from their own."""
    merged = dict(theirs)
    for key, _ in SECTIONS:
        if key not in keep_mine:
            continue
        if key == "details":
            merged["includes_substance_use"] = mine.get("includes_substance_use", False)
            merged["next_review_on"] = mine.get("next_review_on")
        else:
            merged[key] = mine.get(key, [])
    return merged


def _problem_page(caller: Caller, error: DomainError, heading: str, back: str | None = None) -> Template:
    return Template(
        template_name="minutes/problem.html.j2",
        context={
            "caller": caller,
            "heading": heading,
            "error": error,
            "gaps": error.extra.get("gaps", []) if isinstance(error, ConsentMissing) else [],
            "fix_url": error.fix_url if isinstance(error, ConsentMissing) else None,
            "other_minutes": error.extra.get("minutes_id"),
            "back": back,
        },
        status_code=error.status_code,
    )


async def _read(db_session: AsyncSession, caller: Caller, minutes_id: uuid.UUID) -> SharedMinutes | Template:
    """The minutes as the service discloses them, or the page that says why not."""
    try:
        return await service.read_minutes(db_session, caller, minutes_id)
    except ConsentMissing as refused:
        return _problem_page(caller, refused, "You may not read these minutes")


# ---- opening ------------------------------------------------------------------------------------


@post(
    [
        "/meetings/{meeting_id:uuid}/occurrences/{occurrence:str}/minutes",
        # From the room page, whose address names the same meeting and occurrence.
        "/rooms/{meeting_id:uuid}/{occurrence:str}/minutes",
    ]
)
async def open_minutes(
    db_session: DbSession, caller: CallerDep, meeting_id: FromPath[uuid.UUID], occurrence: FromPath[str]
) -> Redirect | Template:
    try:
        minutes = await service.open_minutes(db_session, caller, meeting_id, parse_occurrence(occurrence))
    except DomainError as error:
        await recover(db_session, caller)
        return _problem_page(caller, error, "The minutes cannot be opened", back=f"/meetings/{meeting_id}")
    return _see_other(f"/minutes/{minutes.id}")


REVISION_STATUS_WORDS = {
    "pending": "waiting for its approvals",
    "approved": "approved",
    "applied": "approved and applied to the plan",
    "rejected": "rejected",
    "stale": "out of date: the plan changed since; its author can rebase it",
    "withdrawn": "withdrawn by its author",
}


# ---- the editor and the signed view -------------------------------------------------------------


@get("/minutes/{minutes_id:uuid}")
async def minutes_page(
    db_session: DbSession,
    caller: CallerDep,
    minutes_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Template:
    shared = await _read(db_session, caller, minutes_id)
    if isinstance(shared, Template):
        return shared
    if not shared.minutes.is_final:
        return await _editor(db_session, caller, shared, done=done)
    return await _final(db_session, caller, shared, done=done)


async def _final(
    db_session: AsyncSession,
    caller: Caller,
    shared: SharedMinutes,
    *,
    done: str | None = None,
    error: DomainError | None = None,
) -> Template:
    team = await _team(db_session, caller, shared.minutes.patient_id)
    return Template(
        template_name="minutes/final.html.j2",
        context={
            **await _context(db_session, caller, shared, team),
            "content": minutes_content.encode(minutes_content.decode_draft(shared.minutes.content)),
            "signed_at": _when(shared.minutes.signed_at or shared.minutes.updated_at, caller),
            "classes": sorted(shared.classes, key=lambda item: item.value),
            "done": DONE_MESSAGES.get(done or ""),
            "revisions": await plans.revisions_from_minutes(db_session, shared.minutes.id),
            "revision_status_words": REVISION_STATUS_WORDS,
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


@post("/minutes/{minutes_id:uuid}")
async def save_from_form(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]
) -> Redirect | Template:
    """Save draft, Add ..., Remove and Finalize... all post the whole form here."""
    form = await request.form()
    action = row_action(str(form.get("action", "save")))
    shared = await _read(db_session, caller, minutes_id)
    if isinstance(shared, Template):
        return shared
    if shared.minutes.is_final:
        return _see_other(f"/minutes/{minutes_id}")
    team = await _team(db_session, caller, shared.minutes.patient_id)
    try:
        version = _version(form)
        content = content_from_form(
            form, team, without=(action.section, action.index) if action.kind == "remove" else None
        )
    except InvalidInput as error:
        return await _editor(db_session, caller, shared, error=error, status_code=400)
    if action.kind == "add":
        content[action.section].append(empty_row(action.section, str(form.get("new_change_op", ""))))
    try:
        await service.save_draft(db_session, caller, minutes_id, content, version)
    except StaleEdit as stale:
        return await _reconcile(db_session, caller, minutes_id, content, stale)
    except InvalidInput as error:
        await recover(db_session, caller)
        shared = await service.read_minutes(db_session, caller, minutes_id)
        return await _editor(db_session, caller, shared, content=content, error=error, status_code=400)
    if action.kind == "finalize":
        return _see_other(f"/minutes/{minutes_id}/finalize")
    if action.kind == "add":
        return _see_other(f"/minutes/{minutes_id}?done=added#m-{action.section}-{len(content[action.section]) - 1}")
    if action.kind == "remove":
        return _see_other(f"/minutes/{minutes_id}?done=removed#section-{action.section}")
    return _see_other(f"/minutes/{minutes_id}?done=saved")


@post("/minutes/{minutes_id:uuid}/reconcile")
async def reconcile(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]
) -> Redirect | Template:
    """Save what the editor chose, section by section, against the version they compared with."""
    form = await request.form()
    try:
        version = _version(form)
        mine, theirs = json.loads(str(form.get("mine", ""))), json.loads(str(form.get("theirs", "")))
        if not isinstance(mine, dict) or not isinstance(theirs, dict):
            raise ValueError
    except (InvalidInput, ValueError):
        raise InvalidInput(
            "mine", "The comparison is incomplete; open the minutes again and repeat your change."
        ) from None
    keep_mine = {key for key, _ in SECTIONS if form.get(f"choice-{key}") == "mine"}
    merged = merge(mine, theirs, keep_mine)
    try:
        await service.save_draft(db_session, caller, minutes_id, merged, version)
    except StaleEdit as stale:
        return await _reconcile(db_session, caller, minutes_id, merged, stale)
    return _see_other(f"/minutes/{minutes_id}?done=reconciled")


# ---- finalizing ---------------------------------------------------------------------------------


@get("/minutes/{minutes_id:uuid}/finalize")
async def confirm_finalize(
    db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    """What will be signed; or, when something must be fixed first, the editor showing each problem."""
    shared = await _read(db_session, caller, minutes_id)
    if isinstance(shared, Template):
        return shared
    if shared.minutes.is_final:
        return _see_other(f"/minutes/{minutes_id}")
    problems = await service.problems_for(db_session, shared.minutes)
    if problems:
        return await _editor(db_session, caller, shared, problems=problems)
    team = await _team(db_session, caller, shared.minutes.patient_id)
    return Template(
        template_name="minutes/confirm.html.j2",
        context={
            **await _context(db_session, caller, shared, team),
            "content": minutes_content.encode(minutes_content.decode_draft(shared.minutes.content)),
            "classes": sorted(shared.classes, key=lambda item: item.value),
        },
    )


@post("/minutes/{minutes_id:uuid}/finalize")
async def finalize(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    minutes_id: FromPath[uuid.UUID],
) -> Redirect | Template:
    form = await request.form()
    try:
        await service.finalize(db_session, caller, minutes_id, _version(form), settings=settings)
    except IncompleteMinutes as incomplete:
        await recover(db_session, caller)
        shared = await service.read_minutes(db_session, caller, minutes_id)
        return await _editor(db_session, caller, shared, problems=incomplete.problems, status_code=400)
    except InvalidInput as error:
        await recover(db_session, caller)
        shared = await service.read_minutes(db_session, caller, minutes_id)
        return await _editor(db_session, caller, shared, error=error, status_code=400)
    except StaleEdit as stale:
        await recover(db_session, caller)
        return _problem_page(caller, stale, "Someone saved these minutes since", back=f"/minutes/{minutes_id}")
    except Conflict:
        return _see_other(f"/minutes/{minutes_id}")
    return _see_other(f"/minutes/{minutes_id}?done=finalized")


@post("/minutes/{minutes_id:uuid}/amend")
async def amend(db_session: DbSession, caller: CallerDep, minutes_id: FromPath[uuid.UUID]) -> Redirect | Template:
    try:
        amendment = await service.amend(db_session, caller, minutes_id)
    except DomainError as error:
        await recover(db_session, caller)
        return _problem_page(caller, error, "These minutes cannot be amended now", back=f"/minutes/{minutes_id}")
    return _see_other(f"/minutes/{amendment.id}?done=amended")


route_handlers = [
    open_minutes,
    minutes_page,
    save_from_form,
    reconcile,
    confirm_finalize,
    finalize,
    amend,
]
