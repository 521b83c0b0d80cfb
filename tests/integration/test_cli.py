"""The `conference` command, run as a person would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import func, select

from conference.minutes.models import Minutes
from conference.people.models import Person
from conference.people.passwords import verify_password
from conference.plans.models import PlanRevision, PlanVersion, RevisionApproval


def _run(settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFERENCE_")}
    env.update(
        CONFERENCE_DATABASE_URL=settings.database_url,
        CONFERENCE_DATA_DIR=str(settings.data_dir),
        CONFERENCE_SECRET_KEY=settings.secret_key,
        CONFERENCE_BASE_URL="https://conference.clinic.example",
    )
    return subprocess.run(
        [sys.executable, "-m", "conference", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


async def test_users_create_makes_an_account_that_can_sign_in(settings, session) -> None:
    result = _run(
        settings,
        "users",
        "create",
        "--email",
        "New.Person@Clinic.test",
        "--name",
        "New Person",
        "--role",
        "therapist",
        "--role",
        "peer_specialist",
        "--time-zone",
        "America/Denver",
        "--password",
        "a long enough password",
    )
    assert result.returncode == 0, result.stderr
    person = await session.scalar(select(Person).where(Person.email == "new.person@clinic.test"))
    assert person is not None
    assert {role.value for role in person.roles} == {"therapist", "peer_specialist"}
    assert person.time_zone == "America/Denver"
    assert verify_password(person.password_hash, "a long enough password")
    await session.rollback()

    again = _run(
        settings,
        "users",
        "create",
        "--email",
        "new.person@clinic.test",
        "--name",
        "Twice",
        "--role",
        "therapist",
        "--password",
        "a long enough password",
    )
    assert again.returncode == 2
    assert "already has the email address" in again.stderr


def test_users_create_names_bad_input(settings) -> None:
    def create(*extra: str) -> subprocess.CompletedProcess[str]:
        return _run(
            settings, "users", "create", "--email", "x@clinic.test", "--name", "X", "--role", "therapist", *extra
        )

    short = create("--password", "short")
    assert short.returncode == 2 and "password" in short.stderr
    zone = create("--time-zone", "Nowhere/Town", "--password", "a long enough password")
    assert zone.returncode == 2 and "time zone" in zone.stderr


async def test_demo_is_idempotent_and_prints_how_to_sign_in(settings, session) -> None:
    first = _run(settings, "demo", "--json")
    assert first.returncode == 0, first.stderr
    demo = json.loads(first.stdout)
    second = json.loads(_run(settings, "demo", "--json").stdout)
    assert [p["password"] for p in demo["people"]] == [p["password"] for p in second["people"]]
    assert demo["patient"]["name"] == "Jordan Rivera"
    assert demo["patient"]["join_link"].startswith("https://conference.clinic.example/join/")
    assert {p["email"] for p in demo["people"]} >= {
        "therapist@demo.clinic",
        "prescriber@demo.clinic",
        "director@demo.clinic",
        "casemanager@demo.clinic",
    }
    assert await session.scalar(select(func.count()).select_from(Person)) == len(demo["people"])
    await session.rollback()
    text = _run(settings, "demo")
    assert "therapist@demo.clinic" in text.stdout and "Jordan Rivera" in text.stdout


async def test_demo_has_a_plan_in_two_versions_signed_minutes_and_a_revision_awaiting_the_director(
    settings, session
) -> None:
    first = _run(settings, "demo", "--json")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)["record"]
    assert json.loads(_run(settings, "demo", "--json").stdout)["record"] == record  # made once

    assert [v.number for v in await session.scalars(select(PlanVersion).order_by(PlanVersion.number))] == [1, 2]
    (signed,) = await session.scalars(select(Minutes))
    assert signed.status == "final" and signed.content_hash and record["minutes_url"].endswith(f"/minutes/{signed.id}")
    pending = await session.scalar(select(PlanRevision).where(PlanRevision.status == "pending"))
    assert pending is not None and pending.source_minutes_id == signed.id
    assert record["pending_revision_url"].endswith(f"/revisions/{pending.id}")
    given = {
        a.required_as
        for a in await session.scalars(select(RevisionApproval).where(RevisionApproval.revision_id == pending.id))
    }
    assert given == {"primary_therapist", "prescriber"}
    assert {item["approver"] for item in pending.requirements} == {
        "primary_therapist",
        "prescriber",
        "medical_director",
    }
    await session.rollback()
    text = _run(settings, "demo").stdout
    assert "waiting for the medical director" in text and record["pending_revision_url"] in text
