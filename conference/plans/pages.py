"""Treatment-plan pages: a patient's plan and its versions, proposing a revision, a revision and its
approvals, the approver's queue, and the clinic's approval rules.

Everything works without JavaScript. The change editor is one form: its "Add this change",
"Remove" and "Fill in its current values" buttons post it and come back with the rows changed, and
only "Propose" (or "Start the plan") saves anything. Decisions post, then redirect with a message.
Every read goes through the plans service, which checks access and writes the audit log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from conference.errors import DomainError, InvalidInput, StaleEdit
from conference.http import CallerDep, DbSession, SettingsDep, recover
from conference.people.roles import TeamRole, is_prescriber
from conference.people.service import Caller, sorted_team
from conference.plans import service, signoff
from conference.plans.approvers import RuleSet
from conference.plans.change_kinds import CHANGE_GROUPS, OP_LABELS
from conference.plans.changes import CHANGE_TYPES
from conference.plans.content import PlanContent
from conference.plans.rules import DEFAULT_RULES, ApprovalRule, Trigger
from conference.settings import Settings

MAX_ROWS = 50


@dataclass(frozen=True)
class FieldSpec:
    label: str
    kind: str  # text, textarea, date, number, select
    hint: str | None = None
    optional: bool = False
    options: str = ""  # for a select: items, goals, roles, prescribers, team
    placeholder: str = "Choose…"


FIELDS: dict[str, FieldSpec] = {
    "goal_id": FieldSpec("Which goal", "select", options="goals"),
    "id": FieldSpec("Which item", "select", options="items"),
    "text": FieldSpec("Description", "textarea", "In words the whole care team will understand."),
    "measure": FieldSpec("Measure", "text", "For example PHQ-9 score."),
    "target": FieldSpec("Target", "text", "For example below 10."),
    "due": FieldSpec("Due by", "date", optional=True),
    "who": FieldSpec("Who delivers it", "select", options="roles"),
    "frequency": FieldSpec("How often", "text", "For example weekly."),
    "name": FieldSpec("Medication", "text", "For example sertraline."),
    "dose": FieldSpec("Dose", "text", "For example 50 mg daily."),
    "prescriber_id": FieldSpec("Prescriber", "select", optional=True, options="prescribers", placeholder="Not named"),
    "instructions": FieldSpec("Instructions", "text", optional=True),
    "lead_person_id": FieldSpec(
        "Who leads in a crisis", "select", optional=True, options="team", placeholder="Nobody named"
    ),
    "patient_calls": FieldSpec("Whom the patient calls", "textarea", "For example the clinic's crisis line, 555-0100."),
    "escalate_when": FieldSpec("When the team escalates", "textarea", "For example any thoughts of self-harm."),
    "review_every_days": FieldSpec("Review every (days)", "number", "From 7 to 365 days."),
}
OBJECTIVE_FIELDS: dict[str, FieldSpec] = {
    "objective_text": FieldSpec("First objective", "textarea", optional=True),
    "objective_measure": FieldSpec("Its measure", "text", "For example PHQ-9 score.", optional=True),
    "objective_target": FieldSpec("Its target", "text", "For example below 10.", optional=True),
    "objective_due": FieldSpec("Due by", "date", optional=True),
}
_TEXT_LABELS = {
    "problem": "The problem",
    "goal": "The goal",
    "objective": "The objective",
    "intervention": "What is done",
}
_NOT_SHOWN = ("high_risk", "reason", "objectives")

DONE_MESSAGES = {
    "started": "The treatment plan is started: this is its first version.",
    "proposed": "Proposed. Everyone whose approval it needs is told by email (without any health information).",
    "approved": "Approved. Your signature covers exactly the content shown here.",
    "applied": "Approved. That was the last approval it needed, so the plan's next version is now in force.",
    "rejected": "Rejected. Its author sees your reason.",
    "applied_by_hand": "Applied: the plan's next version is now in force.",
    "rebased": "Rebased onto the current plan. Its approvals are asked for again.",
    "withdrawn": "Withdrawn. It will not change the plan.",
    "rules_saved": "Saved. New revisions follow these rules; revisions already waiting keep theirs.",
}


def _see_other(path: str) -> Redirect:
    return Redirect(path, status_code=HTTP_303_SEE_OTHER)


def _text(form: FormMultiDict, key: str) -> str:
    value = form.get(key, "")
    return value if isinstance(value, str) else ""


def _version(form: FormMultiDict) -> int:
    value = _text(form, "version").strip()
    if not value.isdigit():
        raise InvalidInput("version", "The form is missing its version; reload the page and try again.")
    return int(value)


def _zone(caller: Caller) -> ZoneInfo:
    return ZoneInfo(caller.person.time_zone)


# ---- the change editor: rows as posted ----------------------------------------------------------

_ROW_KEY = re.compile(r"^changes-(?P<index>\d{1,3})-(?P<field>[a-z_]{1,40})$")
_LOCATION = re.compile(r"^changes\[(?P<index>\d+)\](?:\.(?P<field>.+))?$")


@dataclass
class PostedRow:
    """One change as typed: its kind and its fields' text, keyed by field name."""

    op: str
    values: dict[str, str] = field(default_factory=dict)


def shown_fields(op: str) -> list[str]:
    names = [name for name in CHANGE_TYPES[op].__struct_fields__ if name not in _NOT_SHOWN]
    if op in ("change_objective", "remove_objective"):
        # The objective first: its goal follows from it (see ``raw_change``).
        names.remove("goal_id")
        names.insert(names.index("id") + 1, "goal_id")
    return names


def posted_rows(form: FormMultiDict) -> list[PostedRow]:
    """The rows in the order of their numbers; rows of no known kind are dropped."""
    found: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        match = _ROW_KEY.match(key)
        if match and isinstance(value, str):
            found.setdefault(int(match["index"]), {})[match["field"]] = value
    rows = [PostedRow(values.get("op", ""), values) for _, values in sorted(found.items())]
    return [row for row in rows if row.op in CHANGE_TYPES][:MAX_ROWS]


def _kind(op: str) -> str:
    return op.split("_", 1)[1]


def _items_of(kind: str, content: PlanContent) -> list[tuple[Any, str]]:
    """The plan's items of a kind, each with the id of the goal it belongs to (objectives only)."""
    match kind:
        case "problem":
            return [(item, "") for item in content.problems]
        case "goal":
            return [(item, "") for item in content.goals]
        case "objective":
            return [(item, goal.id) for goal in content.goals for item in goal.objectives]
        case "intervention":
            return [(item, "") for item in content.interventions]
        case "medication":
            return [(item, "") for item in content.medications]
    return []


def current_values(op: str, item_id: str, content: PlanContent) -> dict[str, str]:
    """What the plan says now, for a change that rewrites an item: the starting point to edit."""
    if op == "change_crisis_plan":
        found: dict[str, Any] = msgspec.to_builtins(content.crisis_plan)
    elif op == "change_review_cadence":
        found = {"review_every_days": content.review_every_days}
    elif op.startswith("change_"):
        match = next(((item, goal) for item, goal in _items_of(_kind(op), content) if item.id == item_id), None)
        if match is None:
            return {"id": item_id} if item_id else {}
        found = {**msgspec.to_builtins(match[0]), **({"goal_id": match[1]} if match[1] else {})}
    elif op.startswith("remove_") and item_id:
        match = next(((item, goal) for item, goal in _items_of(_kind(op), content) if item.id == item_id), None)
        found = {"id": item_id, **({"goal_id": match[1]} if match and match[1] else {})}
    else:
        return {}
    wanted = shown_fields(op)
    return {name: "" if value is None else str(value) for name, value in found.items() if name in wanted}


def new_row(op: str, content: PlanContent, item_id: str = "") -> PostedRow:
    return PostedRow(op, {"op": op, **current_values(op, item_id, content)})


def raw_change(row: PostedRow, content: PlanContent) -> dict[str, Any]:
    """The change as the service reads it; blanks are left out, so its message names what is missing."""
    raw: dict[str, Any] = {"op": row.op}
    for name in shown_fields(row.op):
        value = row.values.get(name, "").strip()
        if not value:
            continue
        if FIELDS[name].kind == "number":
            raw[name] = int(value) if re.fullmatch(r"-?\d{1,9}", value) else value
        else:
            raw[name] = value
    if row.op in ("change_objective", "remove_objective") and "goal_id" not in raw and raw.get("id"):
        # Left blank, the goal is the objective's own: the objective alone says which one is meant.
        goal = next((goal for item, goal in _items_of("objective", content) if item.id == raw["id"]), None)
        if goal:
            raw["goal_id"] = goal
    if row.op == "add_goal":
        objective = {key: row.values.get(f"objective_{key}", "").strip() for key in ("text", "measure", "target")}
        due = row.values.get("objective_due", "").strip()
        if any(objective.values()) or due:
            raw["objectives"] = [{**objective, **({"due": due} if due else {})}]
    raw["high_risk"] = row.values.get("high_risk") == "on"
    reason = row.values.get("reason", "").strip()
    if reason:
        raw["reason"] = reason
    return raw


def problem_place(error: DomainError | None) -> tuple[int | None, str]:
    """Which row (None: the form as a whole) and which of its fields an error is about."""
    where = str(error.extra.get("field", "")) if error is not None else ""
    match = _LOCATION.match(where)
    if match is None:
        return None, where
    name = re.sub(r"^objectives\[\d+\]\.", "objective_", match["field"] or "")
    return int(match["index"]), name


# ---- the change editor: rows as shown -----------------------------------------------------------


@dataclass(frozen=True)
class RowField:
    key: str
    label: str
    kind: str
    value: str
    hint: str | None
    optional: bool
    options: list[tuple[str, str]]
    placeholder: str
    problem: str | None


@dataclass(frozen=True)
class EditorRow:
    index: int
    op: str
    label: str
    fields: list[RowField]
    objective_fields: list[RowField]
    high_risk: bool
    reason: str
    problems: dict[str, str]
    row_problem: str | None
    can_fill: bool

    @property
    def number(self) -> int:
        return self.index + 1


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Choices:
    """What the editor's selects offer, from the current plan and the care team."""

    content: PlanContent
    roles: list[tuple[str, str]]
    prescribers: list[tuple[str, str]]
    team: list[tuple[str, str]]

    @classmethod
    def of(cls, view: service.PlanView) -> Choices:
        members = [member for member in sorted_team(view.patient) if member.person.active]
        named = [(member, f"{member.person.name} ({member.role.label})") for member in members]
        return cls(
            content=view.content,
            roles=[(role.value, role.label) for role in TeamRole],
            prescribers=[
                (str(member.person_id), label) for member, label in named if is_prescriber(member.person.roles)
            ],
            team=[(str(member.person_id), label) for member, label in named],
        )

    def options(self, source: str, op: str) -> list[tuple[str, str]]:
        if source == "roles":
            return self.roles
        if source == "prescribers":
            return self.prescribers
        if source == "team":
            return self.team
        if source == "goals":
            return [(goal.id, _short(goal.text)) for goal in self.content.goals]
        return [(item.id, self._item_label(_kind(op), item)) for item, _ in _items_of(_kind(op), self.content)]

    def _item_label(self, kind: str, item: Any) -> str:
        match kind:
            case "objective":
                goal = next(goal for goal in self.content.goals if item in goal.objectives)
                return _short(f"{item.text} (goal: {goal.text})")
            case "intervention":
                return _short(f"{item.text}: {dict(self.roles).get(item.who, item.who).lower()}, {item.frequency}")
            case "medication":
                return _short(f"{item.name} {item.dose}")
        return _short(str(item.text))


def _row_field(
    key: str, name: str, spec: FieldSpec, op: str, value: str, choices: Choices, problem: str | None
) -> RowField:
    label, hint, optional = spec.label, spec.hint, spec.optional
    if name == "goal_id" and op in ("change_objective", "remove_objective"):
        hint, optional = "Left blank, it is the objective's own goal.", True
    if name == "id":
        label = f"Which {_kind(op)}"
    elif name == "text":
        label = _TEXT_LABELS.get(_kind(op), spec.label)
    options = choices.options(spec.options, op) if spec.kind == "select" else []
    if value and spec.kind == "select" and value not in {option for option, _ in options}:
        options = [*options, (value, f"{value} (not in the current plan or care team)")]
    return RowField(key, label, spec.kind, value, hint, optional, options, spec.placeholder, problem)


def editor_rows(rows: Sequence[PostedRow], choices: Choices, error: DomainError | None) -> list[EditorRow]:
    bad_index, bad_field = problem_place(error)
    shown: list[EditorRow] = []
    for index, row in enumerate(rows):
        problems: dict[str, str] = {}
        row_problem = None
        if error is not None and bad_index == index:
            names = {*shown_fields(row.op), "high_risk", "reason"} | (
                set(OBJECTIVE_FIELDS) if row.op == "add_goal" else set()
            )
            if bad_field in names:
                problems[bad_field] = error.message
            else:
                row_problem = error.message
        fields = [
            _row_field(
                f"changes-{index}-{name}",
                name,
                FIELDS[name],
                row.op,
                row.values.get(name, ""),
                choices,
                problems.get(name),
            )
            for name in shown_fields(row.op)
        ]
        objective_fields = (
            [
                _row_field(
                    f"changes-{index}-{name}", name, spec, row.op, row.values.get(name, ""), choices, problems.get(name)
                )
                for name, spec in OBJECTIVE_FIELDS.items()
            ]
            if row.op == "add_goal"
            else []
        )
        shown.append(
            EditorRow(
                index=index,
                op=row.op,
                label=OP_LABELS[row.op],
                fields=fields,
                objective_fields=objective_fields,
                high_risk=row.values.get("high_risk") == "on",
                reason=row.values.get("reason", ""),
                problems=problems,
                row_problem=row_problem,
                can_fill=row.op.startswith("change_") and "id" in shown_fields(row.op),
            )
        )
    return shown


def editor_context(
    view: service.PlanView,
    rows: Sequence[PostedRow],
    *,
    summary: str = "",
    error: DomainError | None = None,
) -> dict[str, Any]:
    """What the editor macro needs; its mode follows whether the patient has a plan yet."""
    start = view.plan is None
    bad_index, bad_field = problem_place(error)
    form_problem = error.message if error is not None and bad_field in ("changes", "add_op") else None
    anchor = None
    if error is not None and bad_index is not None and bad_index < len(rows):
        anchor = f"change-{bad_index}"
    elif error is not None and bad_field == "summary" and not start:
        anchor = "revision-summary"
    elif form_problem:
        anchor = "add-op"
    return {
        "mode": "start" if start else "revise",
        "action": f"/patients/{view.patient.id}/plan" + ("" if start else "/revisions"),
        "rows": editor_rows(rows, Choices.of(view), error),
        "change_groups": CHANGE_GROUPS,
        "summary": summary,
        "summary_problem": error.message if error is not None and bad_field == "summary" else None,
        "form_problem": form_problem,
        "anchor": anchor,
    }


# ---- a patient's plan ---------------------------------------------------------------------------


def _plan_context(caller: Caller, view: service.PlanView) -> dict[str, Any]:
    current_number = view.plan.current_version_number if view.plan else None
    return {
        "caller": caller,
        "view": view,
        "patient": view.patient,
        "content": view.content,
        "names": view.names,
        "zone": _zone(caller),
        "role_labels": {role.value: role.label for role in TeamRole},
        "open_revisions": [
            {
                "revision": revision,
                "status": "stale"
                if revision.status == "pending" and revision.base_version != current_number
                else revision.status,
                "author": view.names.get(revision.author_id, "someone no longer on record"),
            }
            for revision in view.open_revisions
        ],
    }


async def _plan_page(
    db_session: AsyncSession,
    caller: Caller,
    patient_id: uuid.UUID,
    *,
    done: str | None = None,
) -> Template:
    view = await service.get_plan(db_session, caller, patient_id)
    return Template(
        template_name="plans/plan.html.j2",
        context={
            **_plan_context(caller, view),
            "editor": editor_context(view, []),
            "done": DONE_MESSAGES.get(done or ""),
        },
    )


@get("/patients/{patient_id:uuid}/plan")
async def plan_page(
    db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], done: FromQuery[str | None] = None
) -> Template:
    return await _plan_page(db_session, caller, patient_id, done=done)


@get("/patients/{patient_id:uuid}/plan/versions/{number:int}")
async def version_page(
    db_session: DbSession, caller: CallerDep, patient_id: FromPath[uuid.UUID], number: FromPath[int]
) -> Template:
    plan = await service.get_plan(db_session, caller, patient_id)
    version = await service.get_version(db_session, caller, patient_id, number)
    revision = None
    if version.version.revision_id is not None:
        revision = await service.get_revision(db_session, caller, version.version.revision_id)
    numbers = [item.number for item in plan.versions]
    return Template(
        template_name="plans/version.html.j2",
        context={
            **_plan_context(caller, plan),
            "version": version.version,
            "content": version.content,
            "names": {**plan.names, **version.names},
            "is_current": version.current,
            "revision": revision,
            "previous": number - 1 if number - 1 in numbers else None,
            "next": number + 1 if number + 1 in numbers else None,
        },
    )


# ---- proposing a revision, or starting the plan -------------------------------------------------


@get("/patients/{patient_id:uuid}/plan/revisions/new")
async def new_revision_page(
    db_session: DbSession,
    caller: CallerDep,
    patient_id: FromPath[uuid.UUID],
    op: FromQuery[str | None] = None,
    item: FromQuery[str | None] = None,
) -> Template:
    view = await service.get_plan(db_session, caller, patient_id)
    rows = [new_row(op, view.content, item or "")] if op in CHANGE_TYPES else []
    return _editor_page(caller, view, rows)


def _editor_page(
    caller: Caller,
    view: service.PlanView,
    rows: Sequence[PostedRow],
    *,
    summary: str = "",
    error: DomainError | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="plans/propose.html.j2",
        context={
            **_plan_context(caller, view),
            "editor": editor_context(view, rows, summary=summary, error=error),
            "error": error,
        },
        status_code=status_code,
    )


@post("/patients/{patient_id:uuid}/plan")
async def start_plan(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    patient_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    return await _editor_post(request, db_session, caller, patient_id, start=True, settings=settings)


@post("/patients/{patient_id:uuid}/plan/revisions")
async def propose_revision(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    patient_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    return await _editor_post(request, db_session, caller, patient_id, start=False, settings=settings)


async def _editor_post(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    caller: Caller,
    patient_id: uuid.UUID,
    *,
    start: bool,
    settings: Settings,
) -> Template | Redirect:
    form = await request.form()
    view = await service.get_plan(db_session, caller, patient_id)
    rows = posted_rows(form)
    summary = _text(form, "summary")
    action = _text(form, "action")
    if action == "add":
        op = _text(form, "add_op")
        if op not in CHANGE_TYPES:
            problem = InvalidInput("add_op", "Choose the kind of change to add, then press “Add this change”.")
            return _editor_page(caller, view, rows, summary=summary, error=problem, status_code=400)
        if len(rows) >= MAX_ROWS:
            problem = InvalidInput(
                "add_op", f"A revision holds at most {MAX_ROWS} changes; propose the rest separately."
            )
            return _editor_page(caller, view, rows, summary=summary, error=problem, status_code=400)
        return _editor_page(caller, view, [*rows, new_row(op, view.content)], summary=summary)
    if action.startswith(("remove:", "fill:")):
        kind, _, position = action.partition(":")
        index = int(position) if position.isdigit() else -1
        if 0 <= index < len(rows):
            if kind == "remove":
                rows = rows[:index] + rows[index + 1 :]
            else:
                chosen = rows[index]
                filled = current_values(chosen.op, chosen.values.get("id", ""), view.content)
                rows[index] = PostedRow(chosen.op, {**chosen.values, **filled})
        return _editor_page(caller, view, rows, summary=summary)
    if action != "submit":  # Enter pressed in a field: show the form again, nothing saved
        return _editor_page(caller, view, rows, summary=summary)
    try:
        changes = service.parse_changes([raw_change(row, view.content) for row in rows])
        if start:
            await service.create_plan(db_session, caller, patient_id, changes)
            return _see_other(f"/patients/{patient_id}/plan?done=started")
        revision = await service.propose_revision(
            db_session, caller, patient_id, changes, summary=summary, settings=settings
        )
    except DomainError as error:
        await recover(db_session, caller)
        view = await service.get_plan(db_session, caller, patient_id)
        return _editor_page(caller, view, rows, summary=summary, error=error, status_code=error.status_code)
    return _see_other(f"/revisions/{revision.id}?done=proposed")


# ---- a revision ---------------------------------------------------------------------------------


def _revision_context(caller: Caller, view: service.RevisionView) -> dict[str, Any]:
    revision = view.revision
    is_author = revision.author_id == caller.person.id
    all_approved = bool(view.requirements) and all(state.status == "approved" for state in view.requirements)
    return {
        "caller": caller,
        "view": view,
        "revision": revision,
        "patient": view.patient,
        "names": view.names,
        "zone": _zone(caller),
        "status": view.status,
        "is_author": is_author,
        "can_decide": bool(view.can_approve_as),
        "can_apply": view.status == "pending" and all_approved,
        "can_rebase": is_author and view.status == "stale",
        "can_withdraw": is_author and revision.status in service.OPEN_STATUSES,
        "waiting": [state for state in view.requirements if state.status == "waiting"],
    }


async def _revision_page(
    db_session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    *,
    done: str | None = None,
    error: DomainError | None = None,
) -> Template:
    view = await service.get_revision(db_session, caller, revision_id)
    return Template(
        template_name="plans/revision.html.j2",
        context={**_revision_context(caller, view), "done": DONE_MESSAGES.get(done or ""), "error": error},
        status_code=error.status_code if error else 200,
    )


@get("/revisions/{revision_id:uuid}")
async def revision_page(
    db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID], done: FromQuery[str | None] = None
) -> Template:
    return await _revision_page(db_session, caller, revision_id, done=done)


def _reason(form: FormMultiDict) -> str:
    reason = _text(form, "reason").strip()
    if len(reason) > 2000:
        raise InvalidInput("reason", "Keep the reason under 2000 characters; the revision's author reads it.")
    return reason


async def _decide(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    caller: Caller,
    revision_id: uuid.UUID,
    decision: signoff.Decision,
) -> Template | Redirect:
    """Approve or reject from the revision page or the queue, and come back to the same page."""
    form = await request.form()
    from_queue = _text(form, "back") == "queue"
    try:
        if decision == "approved":
            revision = await signoff.approve(db_session, caller, revision_id, content_hash=_text(form, "content_hash"))
        else:
            revision = await signoff.reject(
                db_session, caller, revision_id, content_hash=_text(form, "content_hash"), reason=_reason(form)
            )
    except DomainError as error:
        await recover(db_session, caller)
        if from_queue:
            return await _queue_page(db_session, caller, error=error, error_revision=revision_id)
        return await _revision_page(db_session, caller, revision_id, error=error)
    done = "rejected" if decision == "rejected" else "applied" if revision.status == "applied" else "approved"
    if from_queue:
        return _see_other(f"/approvals?done={done}")
    return _see_other(f"/revisions/{revision_id}?done={done}")


@post("/revisions/{revision_id:uuid}/approve")
async def approve(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    return await _decide(request, db_session, caller, revision_id, "approved")


@post("/revisions/{revision_id:uuid}/reject")
async def reject(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    return await _decide(request, db_session, caller, revision_id, "rejected")


@post("/revisions/{revision_id:uuid}/apply")
async def apply(db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]) -> Template | Redirect:
    try:
        await signoff.apply_revision(db_session, caller, revision_id)
    except DomainError as error:
        await recover(db_session, caller)
        return await _revision_page(db_session, caller, revision_id, error=error)
    return _see_other(f"/revisions/{revision_id}?done=applied_by_hand")


@post("/revisions/{revision_id:uuid}/rebase")
async def rebase(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    caller: CallerDep,
    settings: SettingsDep,
    revision_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    form = await request.form()
    try:
        await service.rebase_revision(db_session, caller, revision_id, version=_version(form), settings=settings)
    except DomainError as error:
        await recover(db_session, caller)
        return await _revision_page(db_session, caller, revision_id, error=error)
    return _see_other(f"/revisions/{revision_id}?done=rebased")


@post("/revisions/{revision_id:uuid}/withdraw")
async def withdraw(
    request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep, revision_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    form = await request.form()
    try:
        await service.withdraw_revision(db_session, caller, revision_id, version=_version(form))
    except DomainError as error:
        await recover(db_session, caller)
        return await _revision_page(db_session, caller, revision_id, error=error)
    return _see_other(f"/revisions/{revision_id}?done=withdrawn")


# ---- the approver's queue -----------------------------------------------------------------------


async def _queue_page(
    db_session: AsyncSession,
    caller: Caller,
    *,
    done: str | None = None,
    error: DomainError | None = None,
    error_revision: uuid.UUID | None = None,
) -> Template:
    return Template(
        template_name="plans/approvals.html.j2",
        context={
            "caller": caller,
            "items": await service.approval_queue(db_session, caller),
            "zone": _zone(caller),
            "done": DONE_MESSAGES.get(done or ""),
            "error": error,
            "error_revision": error_revision,
        },
        status_code=error.status_code if error else 200,
    )


@get("/approvals")
async def approvals_page(db_session: DbSession, caller: CallerDep, done: FromQuery[str | None] = None) -> Template:
    return await _queue_page(db_session, caller, done=done)


# ---- approval rules (admins) --------------------------------------------------------------------

_RULE_KEY = re.compile(r"^rules-(?P<index>\d{1,3})-(?P<field>when|approver|remove)$")
BLANK_RULE_ROWS = 2


@dataclass(frozen=True)
class RuleRow:
    when: str
    approver: str
    remove: bool = False


def posted_rules(form: FormMultiDict) -> list[RuleRow]:
    found: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        match = _RULE_KEY.match(key)
        if match and isinstance(value, str):
            found.setdefault(int(match["index"]), {})[match["field"]] = value
    return [
        RuleRow(values.get("when", ""), values.get("approver", ""), values.get("remove") == "on")
        for _, values in sorted(found.items())
    ][:50]


def wanted_rules(rows: Sequence[RuleRow]) -> tuple[list[ApprovalRule], list[int]]:
    """The rules asked for, and for each the row it came from; blank and removed rows are skipped."""
    rules: list[ApprovalRule] = []
    origins: list[int] = []
    for index, row in enumerate(rows):
        if row.remove or (not row.when and not row.approver):
            continue
        try:
            rules.append(ApprovalRule(Trigger(row.when), TeamRole(row.approver)))
        except ValueError:
            raise InvalidInput(
                f"rules-{index}", f"Rule {index + 1}: choose both when it applies and who must approve."
            ) from None
        origins.append(index)
    return rules, origins


def _rows_of(rule_set: RuleSet) -> list[RuleRow]:
    return [RuleRow(rule.when.value, rule.approver.value) for rule in rule_set.rules]


def _rules_page(
    caller: Caller,
    rule_set: RuleSet,
    rows: Sequence[RuleRow],
    *,
    version: str,
    done: str | None = None,
    error: DomainError | None = None,
    bad_row: int | None = None,
    unsaved: Sequence[ApprovalRule] = (),
) -> Template:
    return Template(
        template_name="plans/rules.html.j2",
        context={
            "caller": caller,
            "rule_set": rule_set,
            "rows": [*rows, *[RuleRow("", "")] * BLANK_RULE_ROWS],
            "version": version,
            "triggers": [(trigger.value, trigger.label) for trigger in Trigger],
            "approvers": [(role.value, role.label) for role in TeamRole if role is not TeamRole.OTHER],
            "defaults": DEFAULT_RULES,
            "done": DONE_MESSAGES.get(done or ""),
            "error": error,
            "bad_row": bad_row,
            "unsaved": unsaved,
        },
        status_code=error.status_code if error else 200,
    )


@get("/admin/approval-rules")
async def rules_page(db_session: DbSession, caller: CallerDep, done: FromQuery[str | None] = None) -> Template:
    rule_set = await service.approval_rules(db_session, caller)
    return _rules_page(caller, rule_set, _rows_of(rule_set), version=rule_set.version, done=done)


@post("/admin/approval-rules")
async def save_rules(request: Request[Any, Any, Any], db_session: DbSession, caller: CallerDep) -> Template | Redirect:
    form = await request.form()
    version = _text(form, "version")
    rows = posted_rules(form)
    origins: list[int] = []
    wanted: list[ApprovalRule] = []
    try:
        if _text(form, "action") == "defaults":
            wanted = list(DEFAULT_RULES)
        else:
            wanted, origins = wanted_rules(rows)
        await service.replace_approval_rules(db_session, caller, wanted, version=version)
    except StaleEdit as error:
        # Show the rules as they are now, to edit afresh, and what this admin asked for beside them.
        await recover(db_session, caller)
        current = await service.approval_rules(db_session, caller)
        return _rules_page(caller, current, _rows_of(current), version=current.version, error=error, unsaved=wanted)
    except DomainError as error:
        await recover(db_session, caller)
        current = await service.approval_rules(db_session, caller)
        return _rules_page(caller, current, rows, version=version, error=error, bad_row=_bad_rule_row(error, origins))
    return _see_other("/admin/approval-rules?done=rules_saved")


def _bad_rule_row(error: DomainError, origins: Sequence[int]) -> int | None:
    where = str(error.extra.get("field", ""))
    if match := re.match(r"^rules-(\d+)$", where):
        return int(match[1])
    if (match := re.match(r"^rules\[(\d+)\]", where)) and int(match[1]) < len(origins):
        return origins[int(match[1])]
    return None


route_handlers = [
    plan_page,
    version_page,
    new_revision_page,
    start_plan,
    propose_revision,
    revision_page,
    approve,
    reject,
    apply,
    rebase,
    withdraw,
    approvals_page,
    rules_page,
    save_rules,
]
