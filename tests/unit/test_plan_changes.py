"""Plan content and structured changes: decoding, checking, applying, describing, hashing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

from conference.consent.policy import InformationClass
from conference.plans import changes as ch
from conference.plans.changes import ChangeProblem, apply, decode_changes, describe, encode_changes
from conference.plans.content import (
    CrisisPlan,
    Goal,
    Medication,
    Objective,
    PlanContent,
    Problem,
    decode_content,
    empty_plan,
    encode_content,
)
from conference.signing import canonical_json, content_hash

PRESCRIBER = uuid.UUID("00000000-0000-4000-8000-00000000000a")
LEAD = uuid.UUID("00000000-0000-4000-8000-00000000000b")
NAMES = {PRESCRIBER: "Dr. Park", LEAD: "Theo Therapist"}


def plan() -> PlanContent:
    return PlanContent(
        problems=[Problem(id="p1", text="Low mood")],
        goals=[
            Goal(
                id="g1",
                text="Feel able to work again",
                objectives=[Objective(id="o1", text="Mood improves", measure="PHQ-9", target="below 10")],
            )
        ],
        medications=[Medication(id="m1", name="Sertraline", dose="50 mg daily", prescriber_id=PRESCRIBER)],
        crisis_plan=CrisisPlan(lead_person_id=LEAD, patient_calls="the crisis line", escalate_when="any self-harm"),
        issued_ids={"g": 1, "m": 1, "o": 1, "p": 1},
    )


def problem(raw: Any) -> ChangeProblem:
    with pytest.raises(ChangeProblem) as caught:
        decode_changes(raw)
    return caught.value


def applied(base: PlanContent, *raw: dict[str, Any]) -> PlanContent:
    return apply(base, decode_changes(list(raw)))


# ---- decoding and checking ----------------------------------------------------------------------


def test_every_kind_of_change_decodes_and_encodes_back() -> None:
    raw = [
        {"op": "add_problem", "text": "Poor sleep"},
        {"op": "change_problem", "id": "p1", "text": "Persistent low mood"},
        {"op": "remove_problem", "id": "p1"},
        {
            "op": "add_goal",
            "text": "Sleep through",
            "objectives": [{"text": "Sleep", "measure": "hours", "target": "7"}],
        },
        {"op": "change_goal", "id": "g1", "text": "Return to work"},
        {
            "op": "add_objective",
            "goal_id": "g1",
            "text": "Go out",
            "measure": "days",
            "target": "3",
            "due": "2026-06-01",
        },
        {"op": "change_objective", "goal_id": "g1", "id": "o1", "text": "Mood", "measure": "PHQ-9", "target": "< 5"},
        {"op": "remove_objective", "goal_id": "g1", "id": "o1"},
        {"op": "add_intervention", "text": "CBT", "who": "primary_therapist", "frequency": "weekly"},
        {
            "op": "change_intervention",
            "id": "i1",
            "text": "CBT",
            "who": "primary_therapist",
            "frequency": "fortnightly",
        },
        {"op": "remove_intervention", "id": "i1"},
        {"op": "add_medication", "name": "Mirtazapine", "dose": "15 mg at night"},
        {"op": "change_medication", "id": "m1", "name": "Sertraline", "dose": "100 mg daily", "high_risk": True},
        {"op": "remove_medication", "id": "m1", "reason": "side effects"},
        {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "plan or intent"},
        {"op": "change_review_cadence", "review_every_days": 30},
    ]
    decoded = decode_changes(raw)
    assert [ch.op(change) for change in decoded] == [item["op"] for item in raw]
    assert isinstance(decoded[1], ch.ChangeProblemText)
    assert decoded[5].due == dt.date(2026, 6, 1)  # type: ignore[union-attr]
    assert decode_changes(msgspec.json.decode(msgspec.json.encode(encode_changes(decoded)))) == decoded


@pytest.mark.parametrize(
    ("raw", "location", "words"),
    [
        (
            [{"op": "add_medication", "name": "Sertraline"}],
            "changes[0].dose",
            "Change 1: a new medication needs a dose",
        ),
        (
            [{"op": "add_problem", "text": "x"}, {"op": "change_medication", "id": "m1", "name": "S", "dose": " "}],
            "changes[1].dose",
            "Change 2: a medication change needs a dose, e.g. '50 mg daily'.",
        ),
        ([{"op": "add_medication", "name": "", "dose": "5 mg"}], "changes[0].name", "needs the medication's name"),
        (
            [{"op": "add_objective", "goal_id": "g1", "text": "Mood", "target": "below 10"}],
            "changes[0].measure",
            "a new objective needs a measure, e.g. 'PHQ-9 score'.",
        ),
        (
            [{"op": "add_goal", "text": "Work", "objectives": [{"text": "Go", "measure": "", "target": "3"}]}],
            "changes[0].objectives[0].measure",
            "objective 1 of the new goal needs a measure",
        ),
        (
            [{"op": "add_goal", "text": "Work", "objectives": [{"text": "Go", "target": "3"}]}],
            "changes[0].objectives[0].measure",
            "objective 1 of the new goal needs a measure",
        ),
        ([{"op": "remove_goal"}], "changes[0].id", "needs the id of the item it changes"),
        (
            [{"op": "add_intervention", "text": "CBT", "who": "wizard", "frequency": "weekly"}],
            "changes[0].who",
            "primary_therapist",
        ),
        (
            [{"op": "change_crisis_plan", "patient_calls": "", "escalate_when": "x"}],
            "changes[0].patient_calls",
            "whom the patient calls",
        ),
        ([{"op": "change_review_cadence", "review_every_days": 3}], "changes[0].review_every_days", "from 7 to 365"),
        (
            [{"op": "change_review_cadence", "review_every_days": "monthly"}],
            "changes[0].review_every_days",
            "a whole number",
        ),
        (
            [{"op": "add_medication", "name": "S", "dose": "5 mg", "prescriber_id": "Dr Park"}],
            "changes[0].prescriber_id",
            "id of a member of staff",
        ),
        (
            [{"op": "add_objective", "goal_id": "g1", "text": "t", "measure": "m", "target": "x", "due": "soon"}],
            "changes[0].due",
            "a date such as",
        ),
        (
            [{"op": "add_problem", "text": "Sleep", "dosage": "5"}],
            "changes[0].dosage",
            "has no field 'dosage'; its fields are op, text",
        ),
        (
            [{"op": "rename_goal", "id": "g1"}],
            "changes[0].op",
            "'rename_goal' is not a kind of change; use one of add_problem",
        ),
        ([{"text": "no op"}], "changes[0].op", "is not a kind of change"),
        (["add a goal"], "changes[0]", "each change must be an object"),
        ([], "changes", "Add at least one change to the plan."),
        ({"op": "add_problem", "text": "x"}, "changes", "Send the changes as a list"),
        ([{"op": "add_problem", "text": "x" * 2001}], "changes[0].text", "too long; keep it under 2000"),
    ],
)
def test_bad_changes_are_refused_with_a_message_that_says_what_to_do(raw: Any, location: str, words: str) -> None:
    refused = problem(raw)
    assert refused.location == location
    assert words in refused.message
    assert isinstance(refused, ValueError)


def test_the_message_names_the_change_by_its_position_from_one() -> None:
    refused = problem(
        [{"op": "add_problem", "text": "a"}, {"op": "add_problem", "text": "b"}, {"op": "add_medication", "name": "x"}]
    )
    assert refused.index == 2
    assert refused.message.startswith("Change 3: ")


# ---- applying -----------------------------------------------------------------------------------


def test_new_items_get_the_next_id_of_their_kind() -> None:
    after = applied(
        plan(),
        {"op": "add_goal", "text": "Sleep", "objectives": [{"text": "Sleep", "measure": "hours", "target": "7"}]},
        {"op": "add_objective", "goal_id": "g1", "text": "Walk", "measure": "days a week", "target": "3"},
        {"op": "add_medication", "name": "Melatonin", "dose": "3 mg"},
        {"op": "add_intervention", "text": "CBT-I", "who": "primary_therapist", "frequency": "weekly"},
        {"op": "add_problem", "text": "Insomnia"},
    )
    assert [goal.id for goal in after.goals] == ["g1", "g2"]
    assert [objective.id for objective in after.goals[1].objectives] == ["o2"]
    assert [objective.id for objective in after.goals[0].objectives] == ["o1", "o3"]
    assert [medication.id for medication in after.medications] == ["m1", "m2"]
    assert after.interventions[0].id == "i1"
    assert [item.id for item in after.problems] == ["p1", "p2"]


def test_an_id_is_never_given_again_after_its_item_is_removed() -> None:
    after = applied(
        plan(), {"op": "remove_medication", "id": "m1"}, {"op": "add_medication", "name": "Bupropion", "dose": "150 mg"}
    )
    assert [medication.id for medication in after.medications] == ["m2"]
    later = applied(after, {"op": "add_medication", "name": "Lithium", "dose": "300 mg"})
    assert [medication.id for medication in later.medications] == ["m2", "m3"]


def test_changes_replace_an_item_keeping_its_id_and_leave_the_base_untouched() -> None:
    base = plan()
    after = applied(
        base,
        {
            "op": "change_medication",
            "id": "m1",
            "name": "Sertraline",
            "dose": "100 mg daily",
            "prescriber_id": str(PRESCRIBER),
        },
        {"op": "change_goal", "id": "g1", "text": "Back at work part time"},
        {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "plan or intent"},
        {"op": "change_review_cadence", "review_every_days": 30},
    )
    assert after.medications == [Medication(id="m1", name="Sertraline", dose="100 mg daily", prescriber_id=PRESCRIBER)]
    assert after.goals[0].text == "Back at work part time"
    assert after.goals[0].objectives == base.goals[0].objectives
    assert after.crisis_plan == CrisisPlan(lead_person_id=None, patient_calls="988", escalate_when="plan or intent")
    assert after.review_every_days == 30
    assert base == plan()


def test_removing_a_goal_removes_its_objectives() -> None:
    after = applied(plan(), {"op": "remove_goal", "id": "g1"})
    assert after.goals == []


@pytest.mark.parametrize(
    ("raw", "location", "words"),
    [
        ([{"op": "remove_goal", "id": "g7"}], "changes[0].id", "there is no goal g7 in this version of the plan"),
        ([{"op": "remove_goal", "id": "g7"}], "changes[0].id", "choose one of g1"),
        (
            [{"op": "remove_medication", "id": "m1"}, {"op": "remove_medication", "id": "m1"}],
            "changes[1].id",
            "medication m1 is already removed by change 1",
        ),
        (
            [{"op": "remove_goal", "id": "g1"}, {"op": "remove_objective", "goal_id": "g1", "id": "o1"}],
            "changes[1].goal_id",
            "goal g1 is already removed by change 1",
        ),
        (
            [{"op": "remove_objective", "goal_id": "g1", "id": "o9"}],
            "changes[0].id",
            "goal g1 has no objective o9; its objectives are o1",
        ),
        (
            [
                {"op": "remove_objective", "goal_id": "g1", "id": "o1"},
                {"op": "change_objective", "goal_id": "g1", "id": "o1", "text": "a", "measure": "b", "target": "c"},
            ],
            "changes[1].id",
            "objective o1 is already removed by change 1",
        ),
        (
            [{"op": "add_objective", "goal_id": "g5", "text": "t", "measure": "m", "target": "x"}],
            "changes[0].goal_id",
            "there is no goal g5",
        ),
        (
            [
                {
                    "op": "change_intervention",
                    "id": "i1",
                    "text": "CBT",
                    "who": "primary_therapist",
                    "frequency": "weekly",
                }
            ],
            "changes[0].id",
            "the plan has no interventions yet",
        ),
        (
            [
                {
                    "op": "change_medication",
                    "id": "m1",
                    "name": "Sertraline",
                    "dose": "50 mg daily",
                    "prescriber_id": str(PRESCRIBER),
                }
            ],
            "changes[0]",
            "already reads like this",
        ),
        (
            [{"op": "change_review_cadence", "review_every_days": 90}],
            "changes[0].review_every_days",
            "already reviewed every 90 days",
        ),
        (
            [
                {
                    "op": "change_crisis_plan",
                    "lead_person_id": str(LEAD),
                    "patient_calls": "the crisis line",
                    "escalate_when": "any self-harm",
                }
            ],
            "changes[0]",
            "already reads like this",
        ),
    ],
)
def test_changes_that_do_not_fit_the_version_are_refused(raw: list[dict[str, Any]], location: str, words: str) -> None:
    with pytest.raises(ChangeProblem) as caught:
        apply(plan(), decode_changes(raw))
    assert caught.value.location == location
    assert words in caught.value.message


def test_apply_checks_changes_built_in_code_too() -> None:
    with pytest.raises(ChangeProblem, match="needs a dose"):
        apply(plan(), [ch.AddMedication(name="Lithium", dose="")])
    with pytest.raises(ChangeProblem, match="at least one change"):
        apply(plan(), [])


def test_content_survives_storage() -> None:
    after = applied(
        plan(),
        {"op": "add_objective", "goal_id": "g1", "text": "t", "measure": "m", "target": "x", "due": "2026-06-01"},
    )
    stored = msgspec.json.decode(msgspec.json.encode(encode_content(after)))
    assert decode_content(stored) == after
    assert decode_content(encode_content(empty_plan())) == empty_plan()


# ---- what kind of change ------------------------------------------------------------------------


def test_kinds_of_change_are_recognised() -> None:
    medication = decode_changes([{"op": "remove_medication", "id": "m1"}])
    crisis = decode_changes([{"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "x"}])
    flagged = decode_changes([{"op": "add_problem", "text": "Drinking", "high_risk": True}])
    plain = decode_changes([{"op": "add_problem", "text": "Sleep"}])
    assert ch.touches_medication(medication) and not ch.touches_medication(crisis + flagged + plain)
    assert ch.touches_crisis_plan(crisis) and not ch.touches_crisis_plan(medication + flagged + plain)
    assert ch.is_high_risk(flagged) and not ch.is_high_risk(medication + crisis + plain)
    assert ch.information_classes(medication) == {InformationClass.GENERAL, InformationClass.MEDICATION}
    assert ch.information_classes(plain + crisis) == {InformationClass.GENERAL}


def test_people_named_by_changes() -> None:
    changes = decode_changes(
        [
            {"op": "add_medication", "name": "S", "dose": "5 mg", "prescriber_id": str(PRESCRIBER)},
            {"op": "change_crisis_plan", "lead_person_id": str(LEAD), "patient_calls": "988", "escalate_when": "x"},
        ]
    )
    assert ch.person_ids(changes) == {PRESCRIBER, LEAD}


# ---- the readable diff --------------------------------------------------------------------------


def test_describe_shows_each_change_before_and_after_in_words() -> None:
    changes = decode_changes(
        [
            {
                "op": "change_medication",
                "id": "m1",
                "name": "Sertraline",
                "dose": "100 mg daily",
                "prescriber_id": str(PRESCRIBER),
                "high_risk": True,
                "reason": "partial response",
            },
            {
                "op": "add_goal",
                "text": "Sleep well",
                "objectives": [{"text": "Sleep", "measure": "hours", "target": "7", "due": "2026-06-01"}],
            },
            {"op": "remove_objective", "goal_id": "g1", "id": "o1"},
            {"op": "add_intervention", "text": "CBT", "who": "primary_therapist", "frequency": "weekly"},
            {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "plan or intent"},
            {"op": "change_review_cadence", "review_every_days": 30},
        ]
    )
    lines = describe(plan(), changes, names=NAMES)
    assert [(line.kind, line.section) for line in lines] == [
        ("changed", "Medication"),
        ("added", "Goal"),
        ("removed", "Objective of the goal 'Feel able to work again'"),
        ("added", "Intervention"),
        ("changed", "Crisis and escalation plan"),
        ("changed", "Review cadence"),
    ]
    medication = lines[0]
    assert medication.before == "Sertraline 50 mg daily (prescriber: Dr. Park)"
    assert medication.after == "Sertraline 100 mg daily (prescriber: Dr. Park)"
    assert medication.high_risk and medication.reason == "partial response"
    assert lines[1].before is None
    assert lines[1].after == "Sleep well; objective: Sleep (hours: 7, by 1 June 2026)"
    assert lines[2].before == "Mood improves (PHQ-9: below 10)" and lines[2].after is None
    assert lines[3].after == "CBT: primary therapist, weekly"
    assert lines[4].before == "led by Theo Therapist; the patient calls the crisis line; escalate when any self-harm"
    assert lines[4].after == "led by nobody named; the patient calls 988; escalate when plan or intent"
    assert (lines[5].before, lines[5].after) == ("every 90 days", "every 30 days")
    assert not any(line.high_risk for line in lines[1:])


def test_describe_follows_earlier_changes_and_still_shows_ones_that_no_longer_fit() -> None:
    changes = decode_changes(
        [
            {"op": "change_goal", "id": "g1", "text": "Return to work"},
            {"op": "change_goal", "id": "g1", "text": "Return to work full time"},
            {"op": "remove_goal", "id": "g9"},
        ]
    )
    lines = describe(plan(), changes)
    assert (lines[0].before, lines[0].after) == ("Feel able to work again", "Return to work")
    assert (lines[1].before, lines[1].after) == ("Return to work", "Return to work full time")
    assert (lines[2].kind, lines[2].before, lines[2].after) == ("removed", None, None)


def test_describe_names_someone_not_on_record_without_failing() -> None:
    lines = describe(plan(), decode_changes([{"op": "remove_medication", "id": "m1"}]))
    assert lines[0].before == "Sertraline 50 mg daily (prescriber: someone no longer on record)"


# ---- hashing ------------------------------------------------------------------------------------


def test_the_content_hash_ignores_key_order_and_sees_every_change() -> None:
    first = {"changes": encode_changes(decode_changes([{"op": "add_problem", "text": "Sleep"}])), "base_version": 1}
    same = {"base_version": 1, "changes": [{"text": "Sleep", "reason": "", "op": "add_problem", "high_risk": False}]}
    other_base = {**first, "base_version": 2}
    flagged = {
        "base_version": 1,
        "changes": encode_changes(decode_changes([{"op": "add_problem", "text": "Sleep", "high_risk": True}])),
    }
    assert content_hash(first) == content_hash(same)
    assert len(content_hash(first)) == 64 and content_hash(first) == content_hash(first).lower()
    assert len({content_hash(first), content_hash(other_base), content_hash(flagged)}) == 3
    assert canonical_json({"b": 1, "a": [uuid.UUID(int=1), dt.date(2026, 1, 2)]}) == (
        b'{"a":["00000000-0000-0000-0000-000000000001","2026-01-02"],"b":1}'
    )
