"""The consent policy: may this be done with this patient's information, at this moment?

Pure: no I/O and no framework. Everything the decision needs is passed in, and the answer says,
for each person and purpose that is not covered, exactly what is missing, in words a clinician can
act on.

The rules:
- Deny by default: something is permitted only when an effective consent permits it.
- A deny provision beats any permit, and outlives the revocation of its consent (revoking withdraws
  permission; it never widens sharing). It ends with its consent's end date or expiry event.
- A consent is effective from the start of its period until the earliest of: the end of its period,
  its revocation, or the event it expires on (e.g. the end of treatment).
- Only current members of the patient's care team can be covered.
- Psychotherapy notes are not an information class at all, so nothing can share them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class Purpose(StrEnum):
    JOINT_SESSION = "joint_session"
    CASE_REVIEW = "case_review"
    SHARE_MINUTES = "share_minutes"
    RECORDING = "recording"

    @property
    def label(self) -> str:
        return _PURPOSE_LABELS[self]


_PURPOSE_LABELS = {
    Purpose.JOINT_SESSION: "joint sessions",
    Purpose.CASE_REVIEW: "case reviews",
    Purpose.SHARE_MINUTES: "receiving meeting minutes",
    Purpose.RECORDING: "recording",
}


class InformationClass(StrEnum):
    GENERAL = "general"
    MEDICATION = "medication"
    SUBSTANCE_USE = "substance_use"  # records under 42 CFR Part 2

    @property
    def label(self) -> str:
        return _CLASS_LABELS[self]


_CLASS_LABELS = {
    InformationClass.GENERAL: "general treatment information",
    InformationClass.MEDICATION: "medication information",
    InformationClass.SUBSTANCE_USE: "substance use treatment records (42 CFR Part 2)",
}


class ProvisionType(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class ExpiryEvent(StrEnum):
    END_OF_TREATMENT = "end_of_treatment"

    @property
    def label(self) -> str:
        return "the end of treatment"


@dataclass(frozen=True)
class Provision:
    """Who may receive what, for which purposes. On a deny, an empty set means "any"."""

    type: ProvisionType
    purposes: frozenset[Purpose]
    person_ids: frozenset[uuid.UUID] = frozenset()
    team_roles: frozenset[str] = frozenset()
    classes: frozenset[InformationClass] = frozenset({InformationClass.GENERAL})

    def matches(self, member: Member, purpose: Purpose, information: InformationClass) -> bool:
        is_deny = self.type is ProvisionType.DENY
        return (
            _within(purpose, self.purposes, empty_means_any=is_deny)
            and _within(information, self.classes, empty_means_any=is_deny)
            and self._names(member, empty_means_any=is_deny)
        )

    def _names(self, member: Member, *, empty_means_any: bool) -> bool:
        if not self.person_ids and not self.team_roles:
            return empty_means_any
        return member.person_id in self.person_ids or (
            member.team_role is not None and member.team_role in self.team_roles
        )


def _within(value: object, allowed: frozenset[Any], *, empty_means_any: bool) -> bool:
    return value in allowed if allowed else empty_means_any


@dataclass(frozen=True)
class ConsentFacts:
    """One signed consent, as the policy sees it."""

    id: uuid.UUID
    signed_at: dt.datetime
    provisions: tuple[Provision, ...]
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    expires_on: ExpiryEvent | None = None
    revoked_at: dt.datetime | None = None

    def effective_at(self, moment: dt.datetime, events: Mapping[ExpiryEvent, dt.datetime]) -> bool:
        """Whether its permissions apply."""
        ceased = self.ceased_at(events)
        return moment >= self.starts_at and (ceased is None or moment < ceased)

    def restricts_at(self, moment: dt.datetime, events: Mapping[ExpiryEvent, dt.datetime]) -> bool:
        """Whether its deny provisions apply. Revocation withdraws permission; it never lifts a
        restriction the patient set, so denies hold until the consent's end or expiry event."""
        ends = [end for end in (self.ends_at, self.event_time(events)) if end is not None]
        return moment >= self.starts_at and (not ends or moment < min(ends))

    def event_time(self, events: Mapping[ExpiryEvent, dt.datetime]) -> dt.datetime | None:
        """When the expiry event ended this consent. An event from before it was signed (an earlier
        episode of treatment) does not count."""
        happened = events.get(self.expires_on) if self.expires_on else None
        return happened if happened is not None and happened >= self.starts_at else None

    def ceased_at(self, events: Mapping[ExpiryEvent, dt.datetime]) -> dt.datetime | None:
        ends = [end for end in (self.ends_at, self.revoked_at, self.event_time(events)) if end is not None]
        return min(ends) if ends else None


@dataclass(frozen=True)
class Member:
    """A person the decision is about; ``team_role`` is None when they are not on the care team."""

    person_id: uuid.UUID
    name: str
    team_role: str | None


# ---- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleJointSession:
    participants: tuple[Member, ...]


@dataclass(frozen=True)
class ScheduleCaseReview:
    participants: tuple[Member, ...]


@dataclass(frozen=True)
class AdmitToRoom:
    participant: Member
    meeting_purpose: Purpose  # JOINT_SESSION or CASE_REVIEW


@dataclass(frozen=True)
class ShareMinutes:
    recipient: Member
    classes: frozenset[InformationClass]


@dataclass(frozen=True)
class Record:
    participants: tuple[Member, ...]


Action = ScheduleJointSession | ScheduleCaseReview | AdmitToRoom | ShareMinutes | Record


def requirements(action: Action) -> list[tuple[Member, Purpose, InformationClass]]:
    """What must each be covered for, for this action to go ahead."""
    general = InformationClass.GENERAL
    match action:
        case ScheduleJointSession(participants):
            return [(member, Purpose.JOINT_SESSION, general) for member in participants]
        case ScheduleCaseReview(participants):
            return [(member, Purpose.CASE_REVIEW, general) for member in participants]
        case AdmitToRoom(participant, purpose):
            return [(participant, purpose, general)]
        case ShareMinutes(recipient, classes):
            return [(recipient, Purpose.SHARE_MINUTES, information) for information in sorted(classes | {general})]
        case Record(participants):
            return [(member, Purpose.RECORDING, general) for member in participants]
    raise TypeError(f"unknown action {action!r}")


# ---- the decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """One person not covered for one purpose (and information class)."""

    person_id: uuid.UUID
    name: str
    purpose: Purpose
    information: InformationClass
    message: str


@dataclass(frozen=True)
class Decision:
    permitted: bool
    gaps: tuple[Gap, ...] = ()
    relied_on: tuple[uuid.UUID, ...] = field(default=())
    redisclosure_notice_required: bool = False

    @property
    def message(self) -> str:
        if self.permitted:
            return "Covered by the patient's consent."
        return " ".join(gap.message for gap in self.gaps)


def decide(
    action: Action,
    consents: Iterable[ConsentFacts],
    at: dt.datetime,
    *,
    events: Mapping[ExpiryEvent, dt.datetime] | None = None,
    names: Mapping[uuid.UUID, str] | None = None,
    zone: ZoneInfo | None = None,
) -> Decision:
    """May ``action`` go ahead at ``at``? ``names`` words the answer; ``zone`` dates it."""
    happened = events or {}
    # Ids are unique in practice; the provisions only break ties so that wording never depends on input order.
    ordered = sorted(consents, key=lambda c: (c.signed_at, c.id, repr(c.provisions)))
    effective = [consent for consent in ordered if consent.effective_at(at, happened)]
    restricting = [consent for consent in ordered if consent.restricts_at(at, happened)]
    gaps: list[Gap] = []
    relied_on: set[uuid.UUID] = set()
    for member, purpose, information in requirements(action):
        permits = [c for c in effective if _has(c, ProvisionType.PERMIT, member, purpose, information)]
        denies = [c for c in restricting if _has(c, ProvisionType.DENY, member, purpose, information)]
        if member.team_role is None:
            gaps.append(_gap(member, purpose, information, f"{member.name} is not on the patient's care team."))
        elif denies:
            gaps.append(
                _gap(
                    member,
                    purpose,
                    information,
                    f"{member.name} is excluded from {_what(purpose, information)} by the patient's consent of "
                    f"{_date(denies[0].signed_at, zone)}.",
                )
            )
        elif not permits:
            gaps.append(
                _gap(
                    member,
                    purpose,
                    information,
                    _not_covered(member, purpose, information, effective, names or {}, zone),
                )
            )
        else:
            relied_on.update(consent.id for consent in permits)
    needs_notice = not gaps and any(
        information is InformationClass.SUBSTANCE_USE for _, _, information in requirements(action)
    )
    return Decision(
        permitted=not gaps,
        gaps=tuple(gaps),
        relied_on=tuple(sorted(relied_on)) if not gaps else (),
        redisclosure_notice_required=needs_notice,
    )


def _has(
    consent: ConsentFacts, kind: ProvisionType, member: Member, purpose: Purpose, information: InformationClass
) -> bool:
    return any(p.type is kind and p.matches(member, purpose, information) for p in consent.provisions)


def _gap(member: Member, purpose: Purpose, information: InformationClass, message: str) -> Gap:
    return Gap(member.person_id, member.name, purpose, information, message)


def _what(purpose: Purpose, information: InformationClass) -> str:
    if information is InformationClass.GENERAL:
        return purpose.label
    return f"{purpose.label} with {information.label}"


def _not_covered(
    member: Member,
    purpose: Purpose,
    information: InformationClass,
    effective: Sequence[ConsentFacts],
    names: Mapping[uuid.UUID, str],
    zone: ZoneInfo | None,
) -> str:
    missing = f"{member.name} is not covered for {_what(purpose, information)};"
    for consent in reversed(effective):
        covered = _covered_names(consent, purpose, information, names)
        if covered:
            return f"{missing} the patient's consent of {_date(consent.signed_at, zone)} covers only {covered}."
    return f"{missing} the patient has no current consent for {_what(purpose, information)}."


def _covered_names(
    consent: ConsentFacts, purpose: Purpose, information: InformationClass, names: Mapping[uuid.UUID, str]
) -> str:
    people: list[str] = []
    for provision in consent.provisions:
        if (
            provision.type is ProvisionType.PERMIT
            and purpose in provision.purposes
            and information in provision.classes
        ):
            people += [names.get(person_id, "someone no longer on record") for person_id in provision.person_ids]
            people += [f"the {role.replace('_', ' ')}" for role in sorted(provision.team_roles)]
    unique = list(dict.fromkeys(people))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


def _date(moment: dt.datetime, zone: ZoneInfo | None) -> str:
    local = moment.astimezone(zone or dt.UTC)
    return f"{local.day} {local:%B %Y}"
