"""Final minutes as a FHIR R4 Composition (JSON-ready). Pure: no I/O and no framework.

The signer is the legal attester; an amendment ``replaces`` the version it amends and has status
``amended`` (changed after an earlier version was released as final). Each part of the minutes is
a section with a generated narrative. Minutes holding substance use information are labelled
restricted, with the HL7 security labels for Part 2 records, and carry the redisclosure notice as
a section of their own, so no rendering of the document can drop it. Our own codes are published
under the service's base URL.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from collections.abc import Mapping
from typing import Any

from conference.minutes import sharing
from conference.minutes.content import INSTRUMENTS, RISK_KINDS, Measure, MinutesContent
from conference.minutes.models import Minutes
from conference.people.roles import TeamRole
from conference.plans.changes import describe, op
from conference.plans.content import empty_plan

LOINC = "http://loinc.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
XHTML = "http://www.w3.org/1999/xhtml"

_KIND_LABELS = {"joint_session": "joint session", "case_review": "case review"}
PART2_SECURITY_LABELS = (
    (V3_CONFIDENTIALITY, "R", "restricted"),
    (V3_ACT_CODE, "42CFRPart2", "42 CFR Part2"),
    (V3_ACT_CODE, "ETH", "substance abuse information sensitivity"),
    (V3_ACT_CODE, "NORDSCLCD", "no redisclosure without consent directive"),
)


def composition_resource(
    minutes: Minutes,
    content: MinutesContent,
    *,
    base_url: str,
    people: Mapping[uuid.UUID, str],
    meeting_kind: str,
) -> dict[str, Any]:
    """Final ``minutes`` (whose decoded ``content`` is given) as a FHIR R4 Composition.

    ``people`` names staff by id; ``meeting_kind`` is joint_session or case_review.
    """
    if not minutes.is_final or minutes.signed_at is None or minutes.signed_by_id is None:
        raise ValueError("only final, signed minutes are exported")
    base = base_url.rstrip("/")
    part2 = sharing.holds_substance_use(content)
    kind = _KIND_LABELS.get(meeting_kind, "meeting")
    resource: dict[str, Any] = {"resourceType": "Composition", "id": str(minutes.id)}
    if part2:
        resource["meta"] = {
            "security": [_coding(system, code, display) for system, code, display in PART2_SECURITY_LABELS]
        }
    resource |= {
        "extension": [
            {"url": f"{base}/fhir/StructureDefinition/content-sha256", "valueString": minutes.content_hash},
            {"url": f"{base}/fhir/StructureDefinition/document-version", "valueInteger": minutes.document_version},
        ],
        "identifier": {"system": f"{base}/fhir/minutes", "value": str(minutes.id)},
        "status": "amended" if minutes.amends_id is not None else "final",
        "type": {
            "coding": [
                _coding(LOINC, "34109-9", "Note"),
                _coding(f"{base}/fhir/CodeSystem/document-type", "meeting-minutes", "Meeting minutes"),
            ],
            "text": f"Minutes of a {kind}",
        },
        "category": [{"coding": [_coding(f"{base}/fhir/CodeSystem/meeting-kind", meeting_kind, kind.capitalize())]}],
        "subject": {"reference": f"Patient/{minutes.patient_id}"},
        "date": _datetime(minutes.signed_at),
        "author": [_practitioner(minutes.author_id, people)],
        "title": f"Minutes of a {kind}" + (f", amendment {minutes.document_version - 1}" if minutes.amends_id else ""),
        "confidentiality": "R" if part2 else "N",
        "attester": [
            {
                "mode": "legal",
                "time": _datetime(minutes.signed_at),
                "party": _practitioner(minutes.signed_by_id, people),
            }
        ],
    }
    if minutes.amends_id is not None:
        resource["relatesTo"] = [
            {"code": "replaces", "targetReference": {"reference": f"Composition/{minutes.amends_id}"}}
        ]
    resource["event"] = [{"period": {"start": _datetime(minutes.occurrence_start)}}]
    resource["section"] = _sections(content, base, people)
    return resource


# ---- sections -----------------------------------------------------------------------------------


def _sections(content: MinutesContent, base: str, people: Mapping[uuid.UUID, str]) -> list[dict[str, Any]]:
    parts: list[tuple[str, str, list[str]]] = [
        (
            "attendees",
            "Attendees",
            [_attendee(item.name, item.role, item.minutes_present) for item in content.attendees],
        ),
        (
            "agenda",
            "Agenda and discussion",
            [f"{item.title}: {item.discussion}" if item.discussion else item.title for item in content.agenda_items],
        ),
        ("measures", "Measures reviewed", [_measure(item) for item in content.measures]),
        ("decisions", "Decisions", list(content.decisions)),
        (
            "action-items",
            "Action items",
            [
                _action(item.text, people.get(item.owner_id) if item.owner_id else None, item.due_on, item.done)
                for item in content.action_items
            ],
        ),
        ("plan-changes", "Proposed plan changes", _changes(content, people)),
        (
            "risk-flags",
            "Risk flags",
            [
                f"{RISK_KINDS.get(flag.kind, flag.kind)} ({flag.level})" + (f": {flag.note}" if flag.note else "")
                for flag in content.risk_flags
            ],
        ),
        ("next-review", "Next review", [_day(content.next_review_on)] if content.next_review_on else []),
    ]
    sections = [_section(base, code, title, items) for code, title, items in parts if items]
    notice = sharing.redisclosure_notice(content)
    if notice is not None:
        sections.append(_section(base, "redisclosure-notice", "Notice of redisclosure (42 CFR Part 2)", [notice]))
    return sections


def _section(base: str, code: str, title: str, items: list[str]) -> dict[str, Any]:
    if len(items) == 1:
        body = f"<p>{html.escape(items[0])}</p>"
    else:
        body = "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"
    return {
        "title": title,
        "code": {"coding": [_coding(f"{base}/fhir/CodeSystem/minutes-section", code, title)]},
        "text": {"status": "generated", "div": f'<div xmlns="{XHTML}">{body}</div>'},
    }


def _attendee(name: str, role: str, minutes_present: int) -> str:
    try:
        label = TeamRole(role).label
    except ValueError:
        label = role.replace("_", " ").capitalize()
    return f"{name} ({label}), {minutes_present} min" if label else f"{name}, {minutes_present} min"


def _measure(measure: Measure) -> str:
    instrument = INSTRUMENTS.get(measure.instrument)
    name = measure.name.strip() or (instrument.label if instrument else measure.instrument)
    result = str(measure.score) if measure.score is not None else measure.category
    if measure.score is not None and measure.category:
        result += f" ({measure.category})"
    given = f", given {_day(measure.administered_on)}" if measure.administered_on else ""
    return f"{name}: {result}{given}"


def _action(text: str, owner: str | None, due: dt.date | None, done: bool) -> str:
    words = text
    if owner:
        words += f"; owner: {owner}"
    if due:
        words += f"; due {_day(due)}"
    return words + ("; done" if done else "")


def _changes(content: MinutesContent, people: Mapping[uuid.UUID, str]) -> list[str]:
    """In words. The plan they will apply to is not part of the minutes, so what an item read
    before is not shown; a change to an existing item names it by its id."""
    lines = describe(empty_plan(), content.proposed_changes, names=people)
    words = []
    for change, line in zip(content.proposed_changes, lines, strict=True):
        what = line.after or line.before or str(getattr(change, "id", op(change)))
        text = f"{line.kind.capitalize()}, {line.section.lower()}: {what}"
        if line.high_risk:
            text += " (high risk)"
        if line.reason:
            text += f". Reason: {line.reason}"
        words.append(text)
    return words


# ---- values -------------------------------------------------------------------------------------


def _practitioner(person_id: uuid.UUID, people: Mapping[uuid.UUID, str]) -> dict[str, Any]:
    reference: dict[str, Any] = {"reference": f"Practitioner/{person_id}"}
    name = people.get(person_id)
    if name is not None:
        reference["display"] = name
    return reference


def _coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"system": system, "code": code, "display": display}


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def _datetime(moment: dt.datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone")
    return moment.isoformat()
