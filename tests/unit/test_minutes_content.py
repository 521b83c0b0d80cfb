"""What minutes may say, what signing them needs, and which information classes they hold."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from conference.consent.policy import InformationClass
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.minutes import content, sharing
from conference.minutes.content import ContentProblem, Stay
from conference.plans.changes import AddMedication, ChangeGoal
from conference.signing import content_hash

THERAPIST = uuid.uuid4()
PRESCRIBER = uuid.uuid4()
OWNERS = {THERAPIST: "Theo Therapist", PRESCRIBER: "Priya Prescriber"}
HELD_ON = dt.date(2026, 3, 3)
TODAY = dt.date(2026, 3, 4)


def complete(**changes: Any) -> dict[str, Any]:
    """Minutes that can be signed as they are; keyword arguments replace sections."""
    minutes: dict[str, Any] = {
        "attendees": [
            {"name": "Theo Therapist", "person_id": str(THERAPIST), "role": "primary_therapist", "minutes_present": 45},
            {"name": "Pat Patient", "patient": True, "role": "patient", "minutes_present": 40},
        ],
        "agenda_items": [{"title": "Mood since last review", "discussion": "Sleeping better."}],
        "measures": [
            {"instrument": "phq9", "score": 14, "administered_on": "2026-03-01"},
            {"instrument": "cssrs", "category": "low", "administered_on": "2026-03-03"},
        ],
        "decisions": ["Increase the dose."],
        "action_items": [{"text": "Call the pharmacy", "owner_id": str(PRESCRIBER), "due_on": "2026-03-10"}],
        "risk_flags": [{"kind": "suicide_risk", "level": "low", "note": "Passive thoughts only."}],
        "proposed_changes": [{"op": "add_medication", "name": "sertraline", "dose": "50 mg daily", "high_risk": True}],
        "next_review_on": "2026-04-01",
    }
    minutes.update(changes)
    return minutes


def problems_of(raw: dict[str, Any]) -> list[content.Problem]:
    signable, problems = content.check(raw, owners=OWNERS, held_on=HELD_ON, today=TODAY)
    assert (signable is None) == bool(problems)
    return problems


def messages(raw: dict[str, Any]) -> list[str]:
    return [problem.message for problem in problems_of(raw)]


# ---- complete minutes ---------------------------------------------------------------------------


def test_complete_minutes_can_be_signed_with_their_plan_changes_decoded() -> None:
    signable, problems = content.check(complete(), owners=OWNERS, held_on=HELD_ON, today=TODAY)
    assert problems == []
    assert signable is not None
    assert signable.proposed_changes == [AddMedication(name="sertraline", dose="50 mg daily", high_risk=True)]
    assert signable.action_items[0].owner_id == PRESCRIBER
    assert signable.measures[0].administered_on == dt.date(2026, 3, 1)


def test_encoded_minutes_read_back_the_same_and_hash_the_same() -> None:
    decoded = content.decode(complete())
    encoded = content.encode(decoded)
    assert encoded["proposed_changes"] == [
        {"op": "add_medication", "high_risk": True, "reason": "", "name": "sertraline", "dose": "50 mg daily",
         "prescriber_id": None, "instructions": ""}
    ]  # fmt: skip
    assert content.decode(encoded) == decoded
    assert content_hash(content.encode(content.decode(encoded))) == content_hash(encoded)


def test_minutes_need_propose_nothing() -> None:
    assert problems_of(complete(proposed_changes=[])) == []
    assert content.decode(complete(proposed_changes=[])).proposed_changes == []


# ---- drafts keep whatever was typed -------------------------------------------------------------


def test_a_draft_keeps_unfinished_work_that_could_not_be_signed() -> None:
    unfinished = complete(
        action_items=[{"text": "Call the pharmacy"}],
        measures=[{"instrument": "phq9", "score": 31}],
        proposed_changes=[{"op": "add_medication", "name": "sertraline"}],
        agenda_items=[{"discussion": "Half a thought"}],
        risk_flags=[{"kind": "suicide_risk"}],
    )
    draft = content.decode_draft(unfinished)
    assert draft.proposed_changes == [{"op": "add_medication", "name": "sertraline"}]
    assert content.decode_draft(content.encode(draft)) == draft
    assert len(problems_of(unfinished)) >= 4


def test_an_empty_draft_is_well_formed_but_lists_no_one_attending() -> None:
    assert content.decode_draft({}) == content.DraftContent()
    assert messages({}) == ["List who attended the meeting."]


# ---- malformed input is refused, saying what to do ----------------------------------------------


def test_psychotherapy_notes_have_no_place_in_minutes() -> None:
    with pytest.raises(ContentProblem) as refused:
        content.decode_draft(complete(psychotherapy_notes="Private process notes"))
    assert refused.value.field == "psychotherapy_notes"
    assert "Psychotherapy notes have no place in minutes" in refused.value.message
    assert "leave them out" in refused.value.message


def test_an_unknown_field_in_an_item_is_named_with_its_item() -> None:
    with pytest.raises(ContentProblem) as refused:
        content.decode_draft(complete(action_items=[{"text": "x"}, {"text": "y", "priority": "high"}]))
    assert refused.value.field == "action_items[1].priority"
    assert refused.value.message == "Action item 2 has no field 'priority'; remove it."


@pytest.mark.parametrize(
    ("section", "expected_field", "expected"),
    [
        ({"measures": [{"instrument": "phq9", "score": "high"}]}, "measures[0].score",
         "Measure 1, score: give a whole number."),
        ({"measures": [{"instrument": "phq9", "administered_on": "last week"}]}, "measures[0].administered_on",
         "Measure 1, date given: give a date as YYYY-MM-DD, for example 2026-03-03."),
        ({"action_items": [{"text": "x", "owner_id": "Dr. Lee"}]}, "action_items[0].owner_id",
         "Action item 1, owner: choose a person from the list."),
        ({"attendees": [{"name": "Theo", "minutes_present": -5}]}, "attendees[0].minutes_present",
         "Attendee 1, minutes present: must be 0 or more."),
        ({"decisions": "Increase the dose"}, "decisions", "Decisions: give a list."),
        ({"next_review_on": "soon"}, "next_review_on",
         "Next review date: give a date as YYYY-MM-DD, for example 2026-03-03."),
    ],
)  # fmt: skip
def test_malformed_sections_are_refused_naming_the_item(
    section: dict[str, Any], expected_field: str, expected: str
) -> None:
    with pytest.raises(ContentProblem) as refused:
        content.decode_draft(complete(**section))
    assert (refused.value.field, refused.value.message) == (expected_field, expected)


def test_minutes_must_be_an_object() -> None:
    with pytest.raises(ContentProblem) as refused:
        content.decode_draft(["not", "minutes"])
    assert refused.value.message == "The minutes: give an object with named fields."


def test_text_has_a_limit() -> None:
    with pytest.raises(ContentProblem) as refused:
        content.decode_draft(complete(agenda_items=[{"title": "x" * 501}]))
    assert refused.value.message == "Agenda item 1, title: is too long; keep it to 500 characters."


# ---- what signing needs -------------------------------------------------------------------------


def test_an_action_item_without_an_owner_cannot_be_signed() -> None:
    raw = complete(action_items=[{"text": "Call the pharmacy", "owner_id": str(PRESCRIBER)}, {"text": "Book labs"}])
    problems = problems_of(raw)
    assert [(p.field, p.message) for p in problems] == [
        ("action_items[1].owner_id", "Action item 2 needs an owner: choose who will do it.")
    ]


def test_an_action_item_owner_must_be_on_the_care_team() -> None:
    raw = complete(action_items=[{"text": "Book labs", "owner_id": str(uuid.uuid4())}])
    assert messages(raw) == ["Action item 1: its owner is not on the patient's care team; choose someone who is."]
    # Without a known care team, any owner will do.
    assert content.check(raw)[1] == []


def test_an_empty_action_item_or_decision_must_be_written_or_removed() -> None:
    raw = complete(action_items=[{"text": " ", "owner_id": str(THERAPIST)}], decisions=["Keep going", ""])
    assert messages(raw) == [
        "Decision 2 is empty: write it or remove it.",
        "Action item 1 is empty: say what is to be done, or remove it.",
    ]


@pytest.mark.parametrize(
    ("instrument", "low", "high"), [("phq9", 0, 27), ("gad7", 0, 21), ("pcl5", 0, 80), ("audit", 0, 40)]
)
def test_scores_are_checked_against_the_instruments_range(instrument: str, low: int, high: int) -> None:
    def measure(score: int) -> dict[str, Any]:
        return complete(measures=[{"instrument": instrument, "score": score, "administered_on": "2026-03-01"}])

    assert problems_of(measure(low)) == [] and problems_of(measure(high)) == []
    label = content.INSTRUMENTS[instrument].label
    for wrong in (low - 1, high + 1):
        assert messages(measure(wrong)) == [
            f"Measure 1: a {label} score is from {low} to {high}, not {wrong}; check the score."
        ]


def test_a_measure_needs_its_score_and_date() -> None:
    assert messages(complete(measures=[{"instrument": "gad7"}])) == [
        "Measure 1: give the GAD-7 score.",
        "Measure 1: give the date the GAD-7 was given.",
    ]
    assert messages(complete(measures=[{"instrument": "gad7", "score": 5, "administered_on": "2026-03-05"}])) == [
        "Measure 1: the GAD-7 date is in the future; check it."
    ]


def test_the_c_ssrs_is_a_category_not_a_score() -> None:
    assert messages(complete(measures=[{"instrument": "cssrs", "score": 3, "administered_on": "2026-03-01"}])) == [
        "Measure 1: choose the C-SSRS risk category (none, low, moderate, high).",
        "Measure 1: the C-SSRS is recorded as a category; remove the score.",
    ]


def test_another_scale_needs_its_name_and_a_result() -> None:
    assert messages(complete(measures=[{"instrument": "other", "administered_on": "2026-03-01"}])) == [
        "Measure 1: name the scale that was used.",
        "Measure 1: give the Other score or result.",
    ]
    named = {"instrument": "other", "name": "BASIS-24", "category": "2.4 overall", "administered_on": "2026-03-01"}
    assert problems_of(complete(measures=[named])) == []


def test_an_unknown_instrument_is_named_with_the_choices() -> None:
    (message,) = messages(complete(measures=[{"instrument": "beck", "score": 3, "administered_on": "2026-03-01"}]))
    assert message == "Measure 1: choose the scale (PHQ-9, GAD-7, PCL-5, AUDIT, C-SSRS, Other)."


def test_risk_flags_need_a_known_kind_and_level() -> None:
    assert messages(
        complete(risk_flags=[{"kind": "weather", "level": "extreme"}, {"kind": "other", "level": "low"}])
    ) == [
        "Risk flag 1: choose the kind of risk (suicide risk, self-harm, harm to others, substance use relapse, "
        "medical, other).",
        "Risk flag 1: choose the level (low, moderate, high).",
        "Risk flag 2: describe the risk in the note.",
    ]


def test_attendees_are_a_member_of_staff_or_the_patient_and_listed_once() -> None:
    both = {"name": "Who", "person_id": str(THERAPIST), "patient": True}
    neither = {"name": "Nobody"}
    assert messages(complete(attendees=[both, neither])) == [
        "Attendee 1: choose who this is, a member of staff or the patient, not both.",
        "Attendee 2: choose who this is, a member of staff or the patient, not both.",
    ]
    twice = {"name": "Theo", "person_id": str(THERAPIST)}
    assert messages(complete(attendees=[twice, twice])) == [
        "Someone is listed more than once; keep one entry for each person."
    ]


def test_the_next_review_comes_after_the_meeting() -> None:
    assert messages(complete(next_review_on="2026-03-03")) == [
        "The next review date must come after this meeting; choose a later date."
    ]


def test_a_plan_change_is_checked_by_the_plans_rules_and_named_by_position() -> None:
    raw = complete(
        proposed_changes=[
            {"op": "change_goal", "id": "g1", "text": "Sleep seven hours"},
            {"op": "add_medication", "name": "sertraline", "dose": " "},
        ]
    )
    (problem,) = problems_of(raw)
    assert problem.field == "proposed_changes[1].dose"
    assert problem.message == "Change 2: a new medication needs a dose, e.g. '50 mg daily'."
    with pytest.raises(ContentProblem) as refused:
        content.decode(raw)
    assert refused.value.message == problem.message


def test_every_problem_is_listed_at_once() -> None:
    raw = complete(
        attendees=[],
        action_items=[{"text": "Book labs"}],
        proposed_changes=[{"op": "add_medication", "name": "sertraline"}],
    )
    assert [problem.field for problem in problems_of(raw)] == [
        "attendees",
        "action_items[0].owner_id",
        "proposed_changes[0].dose",
    ]


# ---- attendance becomes attendees ---------------------------------------------------------------


def at(minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minute, seconds=second)


def test_attendees_come_from_stays_once_each_in_joining_order_with_whole_minutes() -> None:
    stays = [
        Stay(PRESCRIBER, "Priya Prescriber", "prescriber", at(5), at(20)),
        Stay(THERAPIST, "Theo Therapist", "primary_therapist", at(0), at(30)),
        # A second tab overlapping the first counts once; a rejoin adds its own time.
        Stay(THERAPIST, "Theo Therapist", "primary_therapist", at(10), at(40)),
        Stay(PRESCRIBER, "Priya Prescriber", "prescriber", at(25), at(30, 59)),
        Stay(None, "Pat Patient", "patient", at(2), at(2, 59)),
    ]
    assert content.attendees_from_stays(stays) == [
        content.Attendee(name="Theo Therapist", person_id=THERAPIST, role="primary_therapist", minutes_present=40),
        content.Attendee(name="Pat Patient", patient=True, role="patient", minutes_present=0),
        content.Attendee(name="Priya Prescriber", person_id=PRESCRIBER, role="prescriber", minutes_present=20),
    ]
    assert content.attendees_from_stays([]) == []


# ---- what the minutes hold, for consent and the Part 2 notice -----------------------------------


def test_minutes_hold_general_information_and_medication_when_a_change_touches_medication() -> None:
    without = content.decode(complete(proposed_changes=[{"op": "change_goal", "id": "g1", "text": "Sleep"}]))
    assert without.proposed_changes == [ChangeGoal(id="g1", text="Sleep")]
    assert sharing.information_classes(without) == {InformationClass.GENERAL}
    assert sharing.information_classes(content.decode(complete())) == {
        InformationClass.GENERAL,
        InformationClass.MEDICATION,
    }
    assert sharing.redisclosure_notice(without) is None


def test_substance_use_marked_by_the_author_brings_part_2_and_its_notice() -> None:
    marked = content.decode(complete(includes_substance_use=True, proposed_changes=[]))
    assert sharing.information_classes(marked) == {InformationClass.GENERAL, InformationClass.SUBSTANCE_USE}
    assert sharing.redisclosure_notice(marked) == REDISCLOSURE_NOTICE
    assert REDISCLOSURE_NOTICE.startswith(
        "This record which has been disclosed to you is protected by federal confidentiality rules (42 CFR part 2)."
    )


def test_a_relapse_flag_is_substance_use_information_even_unmarked() -> None:
    flagged = content.decode(
        complete(proposed_changes=[], risk_flags=[{"kind": "substance_use_relapse", "level": "moderate"}])
    )
    assert not flagged.includes_substance_use
    assert InformationClass.SUBSTANCE_USE in sharing.information_classes(flagged)
    assert sharing.redisclosure_notice(content.decode_draft(content.encode(flagged))) == REDISCLOSURE_NOTICE
