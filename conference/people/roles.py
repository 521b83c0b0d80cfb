"""Roles and care-team rules: pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    THERAPIST = "therapist"
    COUNSELOR = "counselor"
    PSYCHIATRIST = "psychiatrist"
    NURSE_PRACTITIONER = "nurse_practitioner"
    PRIMARY_CARE_PHYSICIAN = "primary_care_physician"
    CASE_MANAGER = "case_manager"
    SOCIAL_WORKER = "social_worker"
    PEER_SPECIALIST = "peer_specialist"
    MEDICAL_DIRECTOR = "medical_director"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class TeamRole(StrEnum):
    PRIMARY_THERAPIST = "primary_therapist"
    PRESCRIBER = "prescriber"
    PRIMARY_CARE = "primary_care"
    CASE_MANAGER = "case_manager"
    MEDICAL_DIRECTOR = "medical_director"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


PRESCRIBING_ROLES = frozenset({Role.PSYCHIATRIST, Role.NURSE_PRACTITIONER, Role.PRIMARY_CARE_PHYSICIAN})
CLINICAL_ROLES = frozenset(Role) - {Role.ADMIN}

# Which person roles may fill a team role; a team role not listed accepts any clinician.
_TEAM_ROLE_REQUIRES: dict[TeamRole, frozenset[Role]] = {
    TeamRole.PRESCRIBER: PRESCRIBING_ROLES,
    TeamRole.PRIMARY_THERAPIST: frozenset(
        {Role.THERAPIST, Role.COUNSELOR, Role.SOCIAL_WORKER, Role.PSYCHIATRIST, Role.NURSE_PRACTITIONER}
    ),
    TeamRole.PRIMARY_CARE: frozenset({Role.PRIMARY_CARE_PHYSICIAN, Role.NURSE_PRACTITIONER}),
    TeamRole.CASE_MANAGER: frozenset({Role.CASE_MANAGER, Role.SOCIAL_WORKER}),
    TeamRole.MEDICAL_DIRECTOR: frozenset({Role.MEDICAL_DIRECTOR}),
}


def is_prescriber(roles: Iterable[Role]) -> bool:
    return any(role in PRESCRIBING_ROLES for role in roles)


def is_clinician(roles: Iterable[Role]) -> bool:
    return any(role in CLINICAL_ROLES for role in roles)


def is_admin(roles: Iterable[Role]) -> bool:
    return Role.ADMIN in set(roles)


def team_role_problem(team_role: TeamRole, roles: Iterable[Role], name: str) -> str | None:
    """Why this person cannot fill this team role, or None when they can."""
    held = set(roles)
    if not is_clinician(held):
        return f"{name} has no clinical role and cannot be on a care team."
    allowed = _TEAM_ROLE_REQUIRES.get(team_role)
    if allowed is not None and not held & allowed:
        needed = ", ".join(sorted(role.label.lower() for role in allowed))
        return f"{name} cannot be {team_role.label.lower()}: that needs one of these roles: {needed}."
    return None


def may_view_clinical_record(roles: Iterable[Role], on_care_team: bool) -> bool:
    """Clinical content is for the patient's own care team only; admins administer, they don't read."""
    return on_care_team and is_clinician(roles)
