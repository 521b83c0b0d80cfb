from __future__ import annotations

import pytest

from conference.people.roles import (
    Role,
    TeamRole,
    is_prescriber,
    may_view_clinical_record,
    team_role_problem,
)


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ({Role.PSYCHIATRIST}, True),
        ({Role.NURSE_PRACTITIONER}, True),
        ({Role.PRIMARY_CARE_PHYSICIAN}, True),
        ({Role.THERAPIST}, False),
        ({Role.MEDICAL_DIRECTOR}, False),
        ({Role.MEDICAL_DIRECTOR, Role.PSYCHIATRIST}, True),
    ],
)
def test_prescribers_are_marked_by_role(roles: set[Role], expected: bool) -> None:
    assert is_prescriber(roles) is expected


def test_team_roles_need_fitting_person_roles() -> None:
    assert team_role_problem(TeamRole.PRESCRIBER, {Role.THERAPIST}, "Theo") == (
        "Theo cannot be prescriber: that needs one of these roles: nurse practitioner, primary care physician, "
        "psychiatrist."
    )
    assert team_role_problem(TeamRole.PRESCRIBER, {Role.NURSE_PRACTITIONER}, "Nia") is None
    assert team_role_problem(TeamRole.MEDICAL_DIRECTOR, {Role.PSYCHIATRIST}, "Pat") is not None
    assert team_role_problem(TeamRole.OTHER, {Role.PEER_SPECIALIST}, "Pip") is None
    assert "no clinical role" in (team_role_problem(TeamRole.OTHER, {Role.ADMIN}, "Ada") or "")


def test_clinical_record_is_for_the_care_team_only() -> None:
    assert may_view_clinical_record({Role.THERAPIST}, on_care_team=True)
    assert not may_view_clinical_record({Role.THERAPIST}, on_care_team=False)
    assert not may_view_clinical_record({Role.ADMIN}, on_care_team=True)
