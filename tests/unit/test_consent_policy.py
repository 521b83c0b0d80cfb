"""The consent policy: every action, the wording of refusals, and its laws (property-based)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from conference.consent.policy import (
    AdmitToRoom,
    ConsentFacts,
    ExpiryEvent,
    InformationClass,
    Member,
    Provision,
    ProvisionType,
    Purpose,
    Record,
    ScheduleCaseReview,
    ScheduleJointSession,
    ShareMinutes,
    decide,
)

T0 = dt.datetime(2026, 3, 3, 15, 0, tzinfo=dt.UTC)
LEE = Member(uuid.UUID(int=1), "Dr. Lee", "prescriber")
PARK = Member(uuid.UUID(int=2), "Dr. Park", "primary_therapist")
KIM = Member(uuid.UUID(int=3), "Kim", "case_manager")
OUTSIDER = Member(uuid.UUID(int=4), "Dr. Stranger", None)
NAMES = {LEE.person_id: LEE.name, PARK.person_id: PARK.name, KIM.person_id: KIM.name}


def permit(*people: Member, purposes=(Purpose.CASE_REVIEW,), classes=(InformationClass.GENERAL,), roles=()):  # type: ignore[no-untyped-def]
    return Provision(
        ProvisionType.PERMIT,
        frozenset(purposes),
        frozenset(m.person_id for m in people),
        frozenset(roles),
        frozenset(classes),
    )


def deny(*people: Member, purposes=(), classes=(), roles=()):  # type: ignore[no-untyped-def]
    return Provision(
        ProvisionType.DENY,
        frozenset(purposes),
        frozenset(m.person_id for m in people),
        frozenset(roles),
        frozenset(classes),
    )


def consent(*provisions: Provision, number: int = 1, signed=T0, ends=None, revoked=None, expires_on=None):  # type: ignore[no-untyped-def]
    return ConsentFacts(uuid.UUID(int=100 + number), signed, tuple(provisions), signed, ends, expires_on, revoked)


AFTER = T0 + dt.timedelta(days=1)


# ---- every action -------------------------------------------------------------------------------


def test_nothing_is_permitted_without_consent() -> None:
    decision = decide(ScheduleCaseReview((PARK,)), [], AFTER)
    assert not decision.permitted
    assert (
        decision.message
        == "Dr. Park is not covered for case reviews; the patient has no current consent for case reviews."
    )


def test_case_review_names_who_is_covered_and_who_is_not() -> None:
    decision = decide(ScheduleCaseReview((PARK, LEE)), [consent(permit(PARK))], AFTER, names=NAMES)
    assert not decision.permitted
    assert [gap.person_id for gap in decision.gaps] == [LEE.person_id]
    assert decision.message == (
        "Dr. Lee is not covered for case reviews; the patient's consent of 3 March 2026 covers only Dr. Park."
    )


def test_joint_session_is_a_different_purpose_from_a_case_review() -> None:
    consents = [consent(permit(PARK, LEE, purposes=[Purpose.CASE_REVIEW]))]
    assert decide(ScheduleCaseReview((PARK, LEE)), consents, AFTER).permitted
    joint = decide(ScheduleJointSession((PARK,)), consents, AFTER)
    assert not joint.permitted and "joint sessions" in joint.message


def test_admission_to_a_room_is_checked_for_the_meeting_purpose() -> None:
    consents = [consent(permit(PARK, purposes=[Purpose.JOINT_SESSION]))]
    assert decide(AdmitToRoom(PARK, Purpose.JOINT_SESSION), consents, AFTER).permitted
    assert not decide(AdmitToRoom(PARK, Purpose.CASE_REVIEW), consents, AFTER).permitted
    assert not decide(AdmitToRoom(LEE, Purpose.JOINT_SESSION), consents, AFTER).permitted


def test_sharing_minutes_needs_every_information_class_they_contain() -> None:
    consents = [
        consent(
            permit(
                LEE, purposes=[Purpose.SHARE_MINUTES], classes=[InformationClass.GENERAL, InformationClass.MEDICATION]
            )
        )
    ]
    assert decide(ShareMinutes(LEE, frozenset({InformationClass.MEDICATION})), consents, AFTER).permitted
    with_part2 = decide(ShareMinutes(LEE, frozenset({InformationClass.SUBSTANCE_USE})), consents, AFTER, names=NAMES)
    assert not with_part2.permitted
    assert "substance use treatment records" in with_part2.message


def test_substance_use_disclosure_carries_the_redisclosure_notice() -> None:
    consents = [
        consent(
            permit(
                LEE,
                purposes=[Purpose.SHARE_MINUTES],
                classes=[InformationClass.GENERAL, InformationClass.SUBSTANCE_USE],
            )
        )
    ]
    decision = decide(ShareMinutes(LEE, frozenset({InformationClass.SUBSTANCE_USE})), consents, AFTER)
    assert decision.permitted and decision.redisclosure_notice_required
    general = decide(ShareMinutes(LEE, frozenset()), consents, AFTER)
    assert general.permitted and not general.redisclosure_notice_required


def test_recording_needs_every_participant_to_agree() -> None:
    consents = [consent(permit(PARK, LEE, purposes=[Purpose.RECORDING]))]
    assert decide(Record((PARK, LEE)), consents, AFTER).permitted
    assert not decide(Record((PARK, LEE, KIM)), consents, AFTER).permitted


def test_team_role_recipients_cover_whoever_holds_the_role() -> None:
    consents = [consent(permit(roles=["prescriber"]))]
    assert decide(ScheduleCaseReview((LEE,)), consents, AFTER).permitted
    assert not decide(ScheduleCaseReview((PARK,)), consents, AFTER).permitted
    message = decide(ScheduleCaseReview((PARK,)), consents, AFTER).message
    assert message.endswith("covers only the prescriber.")


def test_someone_off_the_care_team_is_never_covered() -> None:
    consents = [consent(permit(OUTSIDER, PARK))]
    decision = decide(ScheduleCaseReview((OUTSIDER,)), consents, AFTER)
    assert not decision.permitted
    assert decision.message == "Dr. Stranger is not on the patient's care team."


def test_a_deny_beats_a_permit_and_says_so() -> None:
    consents = [consent(permit(PARK, LEE)), consent(deny(LEE), number=2, signed=T0 + dt.timedelta(hours=1))]
    decision = decide(ScheduleCaseReview((LEE,)), consents, AFTER)
    assert not decision.permitted
    assert "excluded from case reviews by the patient's consent of 3 March 2026" in decision.message


# ---- time ---------------------------------------------------------------------------------------


def test_revocation_takes_effect_at_that_moment() -> None:
    revoked_at = T0 + dt.timedelta(hours=5)
    consents = [consent(permit(PARK), revoked=revoked_at)]
    assert decide(ScheduleCaseReview((PARK,)), consents, revoked_at - dt.timedelta(microseconds=1)).permitted
    assert not decide(ScheduleCaseReview((PARK,)), consents, revoked_at).permitted


def test_a_consent_permits_nothing_before_it_starts_or_after_it_ends() -> None:
    ends = T0 + dt.timedelta(days=30)
    consents = [consent(permit(PARK), ends=ends)]
    assert not decide(ScheduleCaseReview((PARK,)), consents, T0 - dt.timedelta(seconds=1)).permitted
    assert decide(ScheduleCaseReview((PARK,)), consents, ends - dt.timedelta(seconds=1)).permitted
    assert not decide(ScheduleCaseReview((PARK,)), consents, ends).permitted


def test_end_of_treatment_ends_consents_signed_before_it_only() -> None:
    ended = T0 + dt.timedelta(days=10)
    old = consent(permit(PARK), expires_on=ExpiryEvent.END_OF_TREATMENT)
    later = consent(permit(LEE), number=2, signed=ended + dt.timedelta(days=5), expires_on=ExpiryEvent.END_OF_TREATMENT)
    events = {ExpiryEvent.END_OF_TREATMENT: ended}
    moment = ended + dt.timedelta(days=6)
    assert not decide(ScheduleCaseReview((PARK,)), [old, later], moment, events=events).permitted
    assert decide(ScheduleCaseReview((LEE,)), [old, later], moment, events=events).permitted


def test_dates_in_refusals_are_in_the_patients_time_zone() -> None:
    late_evening = dt.datetime(2026, 3, 4, 2, 30, tzinfo=dt.UTC)  # 3 March in New York
    consents = [consent(permit(PARK), signed=late_evening)]
    decision = decide(
        ScheduleCaseReview((LEE,)),
        consents,
        late_evening + dt.timedelta(hours=1),
        names=NAMES,
        zone=ZoneInfo("America/New_York"),
    )
    assert "consent of 3 March 2026" in decision.message


# ---- laws ---------------------------------------------------------------------------------------

MEMBERS = [LEE, PARK, KIM, OUTSIDER]
moments = st.integers(min_value=-5, max_value=60).map(lambda days: T0 + dt.timedelta(days=days))
purpose_sets = st.frozensets(st.sampled_from(list(Purpose)), max_size=4)
class_sets = st.frozensets(st.sampled_from(list(InformationClass)), max_size=3)
provisions = st.builds(
    Provision,
    type=st.sampled_from(list(ProvisionType)),
    purposes=purpose_sets,
    person_ids=st.frozensets(st.sampled_from([m.person_id for m in MEMBERS]), max_size=3),
    team_roles=st.frozensets(st.sampled_from(["prescriber", "primary_therapist", "case_manager"]), max_size=2),
    classes=class_sets,
)


@st.composite
def consents_strategy(draw: st.DrawFn) -> ConsentFacts:
    signed = draw(moments)
    ends = draw(st.none() | st.integers(min_value=1, max_value=40).map(lambda d: signed + dt.timedelta(days=d)))
    revoked = draw(st.none() | st.integers(min_value=0, max_value=40).map(lambda d: signed + dt.timedelta(days=d)))
    return ConsentFacts(
        id=uuid.UUID(int=draw(st.integers(min_value=1, max_value=10**9))),
        signed_at=signed,
        provisions=tuple(draw(st.lists(provisions, min_size=1, max_size=3))),
        starts_at=signed,
        ends_at=ends,
        expires_on=draw(st.none() | st.just(ExpiryEvent.END_OF_TREATMENT)),
        revoked_at=revoked,
    )


participants = st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=4, unique=True).map(tuple)
actions = st.one_of(
    st.builds(ScheduleJointSession, participants),
    st.builds(ScheduleCaseReview, participants),
    st.builds(AdmitToRoom, st.sampled_from(MEMBERS), st.sampled_from([Purpose.JOINT_SESSION, Purpose.CASE_REVIEW])),
    st.builds(ShareMinutes, st.sampled_from(MEMBERS), class_sets),
    st.builds(Record, participants),
)
event_maps = st.none() | moments.map(lambda moment: {ExpiryEvent.END_OF_TREATMENT: moment})
consent_lists = st.lists(consents_strategy(), max_size=4)


@settings(max_examples=300)
@given(
    action=actions, consents=consent_lists, at=moments, events=event_maps, index=st.integers(0, 3), revoked_at=moments
)
def test_revoking_never_adds_a_permission(action, consents, at, events, index, revoked_at) -> None:  # type: ignore[no-untyped-def]
    before = decide(action, consents, at, events=events)
    if consents:
        target = consents[index % len(consents)]
        earliest = min(filter(None, [target.revoked_at, revoked_at]))
        consents = [dataclasses.replace(c, revoked_at=earliest) if c is target else c for c in consents]
    after = decide(action, consents, at, events=events)
    assert not (after.permitted and not before.permitted)
    assert {(g.person_id, g.purpose, g.information) for g in before.gaps} <= {
        (g.person_id, g.purpose, g.information) for g in after.gaps
    }


@settings(max_examples=300)
@given(action=actions, consents=consent_lists, at=moments, events=event_maps, extra=consents_strategy())
def test_adding_a_deny_never_adds_a_permission(action, consents, at, events, extra) -> None:  # type: ignore[no-untyped-def]
    only_denies = dataclasses.replace(
        extra, provisions=tuple(dataclasses.replace(p, type=ProvisionType.DENY) for p in extra.provisions)
    )
    before = decide(action, consents, at, events=events)
    after = decide(action, [*consents, only_denies], at, events=events)
    assert not (after.permitted and not before.permitted)


@settings(max_examples=300)
@given(action=actions, consents=consent_lists, at=moments, events=event_maps, data=st.data())
def test_a_decision_never_depends_on_the_order_of_consents(action, consents, at, events, data) -> None:  # type: ignore[no-untyped-def]
    shuffled = data.draw(st.permutations(consents))
    first, second = decide(action, consents, at, events=events), decide(action, shuffled, at, events=events)
    assert first == second


@settings(max_examples=300)
@given(action=actions, consents=consent_lists, at=moments, events=event_maps, extra=consents_strategy())
def test_adding_a_permit_never_takes_a_permission_away(action, consents, at, events, extra) -> None:  # type: ignore[no-untyped-def]
    only_permits = dataclasses.replace(
        extra, provisions=tuple(dataclasses.replace(p, type=ProvisionType.PERMIT) for p in extra.provisions)
    )
    before = decide(action, consents, at, events=events)
    after = decide(action, [*consents, only_permits], at, events=events)
    assert not (before.permitted and not after.permitted)


@settings(max_examples=200)
@given(action=actions, consents=consent_lists, at=moments, events=event_maps)
def test_a_permission_always_rests_on_a_consent_in_force(action, consents, at, events) -> None:  # type: ignore[no-untyped-def]
    decision = decide(action, consents, at, events=events)
    in_force = {c.id for c in consents if c.effective_at(at, events or {})}
    if decision.permitted:
        assert decision.relied_on and set(decision.relied_on) <= in_force
    else:
        assert decision.gaps and all(gap.message for gap in decision.gaps)


@given(action=actions, at=moments)
def test_without_consents_nothing_is_ever_permitted(action, at) -> None:  # type: ignore[no-untyped-def]
    assert not decide(action, [], at).permitted


def test_revoking_a_consent_with_an_exclusion_keeps_the_exclusion() -> None:
    permit_by_role = consent(permit(roles=["prescriber"]))
    exclude_lee = consent(deny(LEE), number=2, revoked=T0 + dt.timedelta(hours=2))
    decision = decide(ScheduleCaseReview((LEE,)), [permit_by_role, exclude_lee], AFTER)
    assert not decision.permitted
    assert "excluded from case reviews" in decision.message


def test_an_exclusion_ends_with_its_consents_end_date() -> None:
    permit_by_role = consent(permit(roles=["prescriber"]))
    exclude_lee = consent(deny(LEE), number=2, ends=T0 + dt.timedelta(days=1))
    assert not decide(ScheduleCaseReview((LEE,)), [permit_by_role, exclude_lee], T0 + dt.timedelta(hours=1)).permitted
    assert decide(ScheduleCaseReview((LEE,)), [permit_by_role, exclude_lee], T0 + dt.timedelta(days=2)).permitted
