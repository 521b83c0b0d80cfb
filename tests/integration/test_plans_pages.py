"""The treatment-plan pages without a browser: the plan, proposing, a revision, the queue, the rules."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from conference.audit.service import Actor
from conference.people import service as people
from conference.people.models import Person
from conference.people.roles import Role, TeamRole
from conference.people.schemas import PersonCreate, TeamMemberAdd
from conference.people.service import Caller
from conference.plans import service
from conference.plans.changes import decode_changes
from conference.plans.models import PlanRevision
from conference.settings import Settings
from tests.support.clinic import PASSWORD, Clinic, post_form, sign_in

Client = AsyncTestClient[Litestar]

ADD_SLEEP_GOAL = {"op": "add_goal", "text": "Sleep through the night"}
ADD_CBT = {"op": "add_intervention", "text": "CBT", "who": "primary_therapist", "frequency": "weekly"}
ADD_SERTRALINE = {"op": "add_medication", "name": "Sertraline", "dose": "50 mg daily"}
STALE_HASH_MESSAGE = "The revision changed since you opened it; review it again before you decide."


@dataclass
class Team:
    clinic: Clinic
    director: Person
    case_manager: Person

    @property
    def patient_id(self) -> uuid.UUID:
        return self.clinic.patient.id

    @property
    def therapist(self) -> Caller:
        return Caller(self.clinic.therapist)


@pytest.fixture
async def team(session: AsyncSession, clinic: Clinic) -> Team:
    """The clinic's patient with a medical director and a case manager on the care team too."""
    added = []
    for name, email, role, team_role in (
        ("Mara Director", "mara@clinic.test", Role.MEDICAL_DIRECTOR, TeamRole.MEDICAL_DIRECTOR),
        ("Cass Manager", "cass@clinic.test", Role.CASE_MANAGER, TeamRole.CASE_MANAGER),
    ):
        data = PersonCreate(name=name, email=email, roles=[role], time_zone="America/New_York", password=PASSWORD)
        person = await people.create_person(session, Actor.system(), data)
        await people.add_team_member(
            session, Caller(clinic.admin), clinic.patient.id, TeamMemberAdd(person_id=person.id, team_role=team_role)
        )
        added.append(person)
    await session.commit()
    return Team(clinic, added[0], added[1])


async def start_plan(session: AsyncSession, team: Team, *raw: dict[str, Any]) -> None:
    await service.create_plan(session, team.therapist, team.patient_id, decode_changes(list(raw)))
    await session.commit()


async def propose(
    session: AsyncSession,
    team: Team,
    settings: Settings,
    *raw: dict[str, Any],
    summary: str = "After the case review",
    minutes_id: uuid.UUID | None = None,
) -> PlanRevision:
    revision = await service.propose_revision(
        session,
        team.therapist,
        team.patient_id,
        decode_changes(list(raw)),
        summary=summary,
        source_minutes_id=minutes_id,
        settings=settings,
    )
    await session.commit()
    return revision


async def switch_to(client: Client, email: str) -> None:
    if "conference_session" in client.cookies:
        await post_form(client, "/sign-out", {})
    await sign_in(client, email)


def text_of(response: Response) -> str:
    """The words a person reads on the page: no markup, escapes undone, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


async def revision_json(client: Client, revision_id: uuid.UUID | str) -> dict[str, Any]:
    return dict((await client.get(f"/api/v1/revisions/{revision_id}")).json())


# ---- the plan -----------------------------------------------------------------------------------


async def test_the_plan_page_shows_the_current_version_to_the_care_team(client, session, team) -> None:
    prescribed = {**ADD_SERTRALINE, "prescriber_id": str(team.clinic.prescriber.id)}
    crisis = {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "any plan or intent"}
    await start_plan(session, team, ADD_SLEEP_GOAL, ADD_CBT, prescribed, crisis)
    await switch_to(client, "cass@clinic.test")
    page = await client.get(f"/patients/{team.patient_id}/plan")
    assert page.status_code == 200
    words = text_of(page)
    for expected in ("Version 1", "Sleep through the night", "CBT", "Primary therapist", "weekly"):
        assert expected in words
    assert "Sertraline" in words and "50 mg daily" in words and "Priya Prescriber" in words
    assert "988" in words and "any plan or intent" in words and "every 90 days" in words
    assert f'href="/patients/{team.patient_id}/plan/versions/1"' in page.text
    first = await client.get(f"/patients/{team.patient_id}/plan/versions/1")
    assert first.status_code == 200 and "The first version of the plan" in text_of(first)
    assert "Sertraline" in text_of(first)


async def test_a_clinician_starts_a_plan_from_the_form(client, team) -> None:
    await switch_to(client, "theo@clinic.test")
    empty = await client.get(f"/patients/{team.patient_id}/plan")
    assert empty.status_code == 200 and "no treatment plan yet" in text_of(empty)
    assert f'action="/patients/{team.patient_id}/plan"' in empty.text
    added = await post_form(client, f"/patients/{team.patient_id}/plan", {"action": "add", "add_op": "add_goal"})
    assert added.status_code == 200
    assert 'name="changes-0-text"' in added.text and 'name="changes-0-objective_measure"' in added.text
    assert "Start the plan" in added.text
    started = await post_form(
        client,
        f"/patients/{team.patient_id}/plan",
        {
            "changes-0-op": "add_goal",
            "changes-0-text": "Sleep through the night",
            "changes-0-objective_text": "Fewer awakenings",
            "changes-0-objective_measure": "Sleep diary",
            "changes-0-objective_target": "At most one a night",
            "action": "submit",
        },
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/patients/{team.patient_id}/plan?done=started"
    plan = (await client.get(f"/api/v1/patients/{team.patient_id}/plan")).json()
    assert plan["current_version"] == 1 and plan["open_revisions"] == []
    [goal] = plan["version"]["content"]["goals"]
    assert goal["text"] == "Sleep through the night"
    assert [item["measure"] for item in goal["objectives"]] == ["Sleep diary"]
    shown = await client.get(started.headers["location"])
    assert "The treatment plan is started" in text_of(shown) and "Fewer awakenings" in text_of(shown)


# ---- proposing ----------------------------------------------------------------------------------


async def test_several_changes_are_proposed_through_the_form(client, session, team) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    await switch_to(client, "theo@clinic.test")
    path = f"/patients/{team.patient_id}/plan/revisions"
    first = {"changes-0-op": "add_medication", "changes-0-name": "Sertraline", "changes-0-dose": "50 mg daily"}
    two_rows = await post_form(client, path, {**first, "summary": "Start", "action": "add", "add_op": "change_goal"})
    assert two_rows.status_code == 200
    assert 'name="changes-1-op" value="change_goal"' in two_rows.text
    assert 'value="Sertraline"' in two_rows.text and 'value="Start"' in two_rows.text  # nothing typed is lost
    filled = await post_form(
        client, path, {**first, "changes-1-op": "change_goal", "changes-1-id": "g1", "action": "fill:1"}
    )
    assert ">Sleep through the night</textarea>" in filled.text  # the goal's current words, to edit
    proposed = await post_form(
        client,
        path,
        {
            **first,
            "changes-0-prescriber_id": str(team.clinic.prescriber.id),
            "changes-1-op": "change_goal",
            "changes-1-id": "g1",
            "changes-1-text": "Sleep well most nights",
            "changes-1-high_risk": "on",
            "changes-1-reason": "Relapse last month",
            "summary": "Start an antidepressant",
            "action": "submit",
        },
    )
    assert proposed.status_code == 303, proposed.text
    location = proposed.headers["location"]
    revision_id = re.fullmatch(r"/revisions/([0-9a-f-]{36})\?done=proposed", location)
    assert revision_id is not None
    body = await revision_json(client, revision_id[1])
    assert body["summary"] == "Start an antidepressant" and body["status"] == "pending"
    assert [change["op"] for change in body["changes"]] == ["add_medication", "change_goal"]
    assert body["changes"][0]["prescriber_id"] == str(team.clinic.prescriber.id)
    assert body["changes"][1]["high_risk"] is True and body["changes"][1]["reason"] == "Relapse last month"
    page = await client.get(location)
    assert "Proposed." in text_of(page)


async def test_a_medication_change_without_a_dose_is_shown_beside_the_field_and_nothing_is_created(
    client, team
) -> None:
    await switch_to(client, "theo@clinic.test")
    refused = await post_form(
        client,
        f"/patients/{team.patient_id}/plan",
        {"changes-0-op": "add_medication", "changes-0-name": "Sertraline", "changes-0-dose": " ", "action": "submit"},
    )
    assert refused.status_code == 400
    problem = re.search(r'<p class="field-problem" id="c-0-dose-problem">([^<]+)</p>', refused.text)
    assert problem is not None
    assert html.unescape(problem[1]) == "Change 1: a new medication needs a dose, e.g. '50 mg daily'."
    assert 'aria-invalid="true" aria-describedby="c-0-dose-hint c-0-dose-problem"' in refused.text
    assert 'value="Sertraline"' in refused.text
    plan = (await client.get(f"/api/v1/patients/{team.patient_id}/plan")).json()
    assert plan["current_version"] is None

    await post_form(
        client,
        f"/patients/{team.patient_id}/plan",
        {"changes-0-op": "add_problem", "changes-0-text": "Low mood", "action": "submit"},
    )
    revise = await post_form(
        client,
        f"/patients/{team.patient_id}/plan/revisions",
        {"changes-0-op": "add_medication", "changes-0-name": "Sertraline", "summary": "x", "action": "submit"},
    )
    assert revise.status_code == 400 and "Change 1: a new medication needs a dose" in text_of(revise)
    plan = (await client.get(f"/api/v1/patients/{team.patient_id}/plan")).json()
    assert plan["current_version"] == 1 and plan["open_revisions"] == []


async def test_a_revision_needs_a_change_and_a_summary(client, session, team) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    await switch_to(client, "theo@clinic.test")
    path = f"/patients/{team.patient_id}/plan/revisions"
    nothing = await post_form(client, path, {"summary": "x", "action": "submit"})
    assert nothing.status_code == 400 and "Add at least one change to the plan." in nothing.text
    no_summary = await post_form(
        client, path, {"changes-0-op": "add_problem", "changes-0-text": "Low mood", "action": "submit"}
    )
    assert no_summary.status_code == 400
    assert 'id="revision-summary-problem">Say in a sentence what this revision changes' in no_summary.text


# ---- a revision ---------------------------------------------------------------------------------


async def test_the_revision_page_shows_the_diff_and_who_must_approve(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    minutes_id = uuid.uuid4()
    revision = await propose(
        session, team, settings, {**ADD_SERTRALINE, "high_risk": True, "reason": "low mood"}, minutes_id=minutes_id
    )
    await switch_to(client, "theo@clinic.test")
    page = await client.get(f"/revisions/{revision.id}")
    assert page.status_code == 200
    words = text_of(page)
    assert "Added: Medication" in words
    assert "Sertraline 50 mg daily" in words and "High risk" in words and "low mood" in words
    assert f'href="/minutes/{minutes_id}"' in page.text
    assert f'href="/patients/{team.patient_id}/plan/versions/1"' in page.text
    for role, why, who in (
        ("Prescriber", "a medication change", "Priya Prescriber"),
        ("Medical director", "a high-risk change", "Mara Director"),
        ("Primary therapist", "every revision", "Theo Therapist"),
    ):
        assert role in words and f"Needed for {why}." in words and f"Still waiting for {who}." in words
    assert f'name="content_hash" value="{revision.content_hash}"' in page.text  # the therapist can decide
    await switch_to(client, "cass@clinic.test")
    onlooker = await client.get(f"/revisions/{revision.id}")
    assert onlooker.status_code == 200 and 'name="content_hash"' not in onlooker.text


async def test_the_prescriber_approves_from_the_revision_page_and_the_plan_moves_on(
    client, session, team, settings
) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    await switch_to(client, "theo@clinic.test")
    mine = await post_form(client, f"/revisions/{revision.id}/approve", {"content_hash": revision.content_hash})
    assert mine.status_code == 303 and mine.headers["location"] == f"/revisions/{revision.id}?done=approved"

    await switch_to(client, "priya@clinic.test")
    page = await client.get(f"/revisions/{revision.id}")
    assert "You are asked as prescriber" in text_of(page)
    hash_shown = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page.text)
    assert hash_shown is not None
    approved = await post_form(client, f"/revisions/{revision.id}/approve", {"content_hash": hash_shown[1]})
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/revisions/{revision.id}?done=applied"
    after = text_of(await client.get(approved.headers["location"]))
    assert "the plan's next version is now in force" in after
    assert "Approved by Priya Prescriber" in after
    assert (await revision_json(client, revision.id))["applied_version"] == 2

    await switch_to(client, "cass@clinic.test")
    plan = text_of(await client.get(f"/patients/{team.patient_id}/plan"))
    assert "Version 2" in plan and "Sertraline" in plan
    version = text_of(await client.get(f"/patients/{team.patient_id}/plan/versions/2"))
    assert "What changed from version 1" in version and "Sertraline 50 mg daily" in version
    assert "Priya Prescriber, as prescriber" in version


async def test_approving_content_that_changed_meanwhile_shows_the_409_message(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    seen = revision.content_hash
    await switch_to(client, "priya@clinic.test")
    assert seen in (await client.get(f"/revisions/{revision.id}")).text
    await service.edit_revision(
        session,
        team.therapist,
        revision.id,
        decode_changes([{**ADD_SERTRALINE, "dose": "100 mg daily"}]),
        summary="A higher dose",
        version=revision.version,
        settings=settings,
    )
    await session.commit()
    refused = await post_form(client, f"/revisions/{revision.id}/approve", {"content_hash": seen})
    assert refused.status_code == 409
    assert STALE_HASH_MESSAGE in text_of(refused)
    assert "100 mg daily" in text_of(refused)  # the page now shows what there is to approve
    assert (await revision_json(client, revision.id))["approvals"] == []
    from_queue = await post_form(client, f"/revisions/{revision.id}/approve", {"content_hash": seen, "back": "queue"})
    assert from_queue.status_code == 409 and STALE_HASH_MESSAGE in text_of(from_queue)
    assert "queue-item-problem" in from_queue.text


async def test_rejecting_needs_a_reason(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    await switch_to(client, "priya@clinic.test")
    path = f"/revisions/{revision.id}/reject"
    blank = await post_form(client, path, {"content_hash": revision.content_hash, "reason": "  "})
    assert blank.status_code == 400
    assert "Say why you reject this revision, so its author knows what to change." in text_of(blank)
    assert (await revision_json(client, revision.id))["status"] == "pending"
    rejected = await post_form(client, path, {"content_hash": revision.content_hash, "reason": "Check liver tests"})
    assert rejected.status_code == 303 and rejected.headers["location"] == f"/revisions/{revision.id}?done=rejected"
    page = text_of(await client.get(rejected.headers["location"]))
    assert "Rejected by Priya Prescriber" in page and "Check liver tests" in page


async def test_the_author_rebases_a_stale_revision_and_withdraws_another(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    first = await propose(session, team, settings, ADD_CBT, summary="Weekly CBT")
    second = await propose(session, team, settings, {"op": "add_problem", "text": "Poor sleep"}, summary="Sleep")
    await switch_to(client, "theo@clinic.test")
    await post_form(client, f"/revisions/{first.id}/approve", {"content_hash": first.content_hash})
    stale = await client.get(f"/revisions/{second.id}")
    assert "The plan moved on since this revision was written." in text_of(stale)
    assert "Rebase onto version 2" in stale.text
    refused = await post_form(client, f"/revisions/{second.id}/rebase", {"version": "999"})
    assert refused.status_code == 409 and "Reload it" in text_of(refused)
    version = str((await revision_json(client, second.id))["version"])
    rebased = await post_form(client, f"/revisions/{second.id}/rebase", {"version": version})
    assert rebased.status_code == 303 and rebased.headers["location"].endswith("?done=rebased")
    body = await revision_json(client, second.id)
    assert (body["status"], body["base_version"]) == ("pending", 2)
    withdrawn = await post_form(client, f"/revisions/{second.id}/withdraw", {"version": str(body["version"])})
    assert withdrawn.status_code == 303
    assert (await revision_json(client, second.id))["status"] == "withdrawn"


# ---- the queue ----------------------------------------------------------------------------------


async def test_the_queue_lists_oldest_first_only_what_the_viewer_can_approve(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    minutes_id = uuid.uuid4()
    older = await propose(session, team, settings, {**ADD_CBT, "high_risk": True}, summary="Older risky change")
    newer = await propose(
        session,
        team,
        settings,
        {"op": "change_crisis_plan", "patient_calls": "988", "escalate_when": "any plan"},
        summary="Newer crisis plan",
        minutes_id=minutes_id,
    )
    await propose(session, team, settings, ADD_SERTRALINE, summary="Medication only")

    await switch_to(client, "mara@clinic.test")
    queue = await client.get("/approvals")
    assert queue.status_code == 200
    words = text_of(queue)
    assert words.index("Older risky change") < words.index("Newer crisis plan")
    assert "Medication only" not in words
    assert "Pat Patient" in words and "Medical director, for a high-risk change" in words
    assert f'href="/minutes/{minutes_id}"' in queue.text
    assert "Added:" in words and "CBT: primary therapist, weekly" in words  # the diff, inline
    approved = await post_form(
        client, f"/revisions/{older.id}/approve", {"content_hash": older.content_hash, "back": "queue"}
    )
    assert approved.status_code == 303 and approved.headers["location"] == "/approvals?done=approved"
    after = await client.get("/approvals")
    assert "Older risky change" not in text_of(after) and "Newer crisis plan" in text_of(after)
    assert f'action="/revisions/{newer.id}/approve"' in after.text

    await switch_to(client, "priya@clinic.test")
    mine = text_of(await client.get("/approvals"))
    assert "Medication only" in mine and "Newer crisis plan" not in mine
    await switch_to(client, "cass@clinic.test")
    assert "Nothing is waiting for your approval" in text_of(await client.get("/approvals"))


# ---- approval rules -----------------------------------------------------------------------------


async def test_an_admin_edits_the_approval_rules_and_others_are_refused(client, team) -> None:
    await switch_to(client, "admin@clinic.test")
    page = await client.get("/admin/approval-rules")
    assert page.status_code == 200 and "the defaults apply" in text_of(page)
    version = re.search(r'name="version" value="([0-9a-f]+)"', page.text)
    assert version is not None
    rules = {
        "rules-0-when": "any_revision",
        "rules-0-approver": "medical_director",
        "rules-1-when": "medication_change",
        "rules-1-approver": "prescriber",
        "rules-2-when": "high_risk",
        "rules-2-approver": "medical_director",
        "rules-2-remove": "on",
    }
    without_any = await post_form(
        client,
        "/admin/approval-rules",
        {"version": version[1], "rules-0-when": "medication_change", "rules-0-approver": "prescriber"},
    )
    assert without_any.status_code == 400 and "Keep a rule for any_revision" in text_of(without_any)
    half = await post_form(client, "/admin/approval-rules", {"version": version[1], "rules-0-when": "high_risk"})
    assert half.status_code == 400 and "Rule 1: choose both" in text_of(half)
    saved = await post_form(client, "/admin/approval-rules", {"version": version[1], **rules})
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/approval-rules?done=rules_saved"
    current = (await client.get("/api/v1/approval-rules")).json()
    assert [(rule["when"], rule["approver"]) for rule in current["rules"]] == [
        ("any_revision", "medical_director"),
        ("medication_change", "prescriber"),
    ]
    stale = await post_form(client, "/admin/approval-rules", {"version": version[1], **rules})
    assert stale.status_code == 409
    assert "Another administrator changed the approval rules" in text_of(stale)
    assert f'value="{current["version"]}"' in stale.text  # the form now carries the rules as they are

    await switch_to(client, "theo@clinic.test")
    refused = await client.get("/admin/approval-rules")
    assert refused.status_code == 403 and "Only a clinic administrator" in text_of(refused)
    posted = await post_form(client, "/admin/approval-rules", {"version": current["version"], **rules})
    assert posted.status_code == 403


# ---- access, CSRF and addresses -----------------------------------------------------------------


async def test_outside_the_care_team_the_pages_answer_the_apis_404(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    for email in ("oscar@clinic.test", "admin@clinic.test"):
        await switch_to(client, email)
        for page_path, api_path in (
            (f"/patients/{team.patient_id}/plan", f"/api/v1/patients/{team.patient_id}/plan"),
            (f"/revisions/{revision.id}", f"/api/v1/revisions/{revision.id}"),
            (f"/patients/{team.patient_id}/plan/versions/1", f"/api/v1/patients/{team.patient_id}/plan/versions/1"),
        ):
            page, api = await client.get(page_path), await client.get(api_path)
            assert page.status_code == api.status_code == 404
            assert api.json()["detail"] in text_of(page)
            assert "Sleep through the night" not in page.text
        refused = await post_form(client, f"/revisions/{revision.id}/approve", {"content_hash": revision.content_hash})
        assert refused.status_code == 404
    await switch_to(client, "theo@clinic.test")
    assert (await revision_json(client, revision.id))["approvals"] == []


async def test_every_form_post_needs_the_csrf_token(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL)
    revision = await propose(session, team, settings, ADD_SERTRALINE)
    await switch_to(client, "priya@clinic.test")
    for path, data in (
        (f"/revisions/{revision.id}/approve", {"content_hash": revision.content_hash}),
        (f"/revisions/{revision.id}/reject", {"content_hash": revision.content_hash, "reason": "no"}),
        (f"/revisions/{revision.id}/withdraw", {"version": "1"}),
        (f"/patients/{team.patient_id}/plan/revisions", {"changes-0-op": "add_problem", "summary": "x"}),
        ("/admin/approval-rules", {"version": "x"}),
    ):
        response = await client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, path
    body = await revision_json(client, revision.id)
    assert (body["status"], body["approvals"]) == ("pending", [])


async def test_no_address_names_the_patient(client, session, team, settings) -> None:
    await start_plan(session, team, ADD_SLEEP_GOAL, ADD_SERTRALINE)
    revision = await propose(session, team, settings, {"op": "remove_medication", "id": "m1", "high_risk": True})
    await switch_to(client, "mara@clinic.test")
    pages = [
        f"/patients/{team.patient_id}/plan",
        f"/patients/{team.patient_id}/plan/versions/1",
        f"/patients/{team.patient_id}/plan/revisions/new?op=change_medication&item=m1",
        f"/revisions/{revision.id}",
        "/approvals",
    ]
    addresses: list[str] = []
    for path in pages:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert "Pat Patient" in response.text  # the pages do name the patient, for the reader
        addresses += [html.unescape(found) for found in re.findall(r'(?:href|action)="([^"]*)"', response.text)]
    decided = await post_form(
        client, f"/revisions/{revision.id}/approve", {"content_hash": revision.content_hash, "back": "queue"}
    )
    addresses.append(decided.headers["location"])
    assert len(addresses) > 20
    for address in addresses:
        for secret in ("Pat", "Patient", "Sertraline", "Sleep"):
            assert secret not in address, address
