"""The kinds of plan change in a person's words, grouped as forms offer them, the common ones first.

Pure wording, shared by every page that lets someone write plan changes (minutes, the plan itself).
"""

from __future__ import annotations

CHANGE_GROUPS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Medications",
        [
            ("add_medication", "Start a medication"),
            ("change_medication", "Change a medication (dose, prescriber, instructions)"),
            ("remove_medication", "Stop a medication"),
        ],
    ),
    (
        "Goals and objectives",
        [
            ("add_goal", "Add a goal"),
            ("change_goal", "Change a goal"),
            ("remove_goal", "Remove a goal"),
            ("add_objective", "Add an objective to a goal"),
            ("change_objective", "Change an objective"),
            ("remove_objective", "Remove an objective"),
        ],
    ),
    (
        "Problems",
        [
            ("add_problem", "Add a problem"),
            ("change_problem", "Change a problem"),
            ("remove_problem", "Remove a problem"),
        ],
    ),
    (
        "Interventions",
        [
            ("add_intervention", "Add an intervention"),
            ("change_intervention", "Change an intervention"),
            ("remove_intervention", "Remove an intervention"),
        ],
    ),
    (
        "Crisis plan and review",
        [
            ("change_crisis_plan", "Change the crisis and escalation plan"),
            ("change_review_cadence", "Change how often the plan is reviewed"),
        ],
    ),
]
OP_LABELS = {op: label for _, choices in CHANGE_GROUPS for op, label in choices}
