"""The audit chain: appended by every patient read or change, verified by `conference audit verify`."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select, update

from conference.audit import service as audit
from conference.audit.models import AuditEvent
from tests.support.clinic import sign_in


def _verify_cli(settings) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFERENCE_")}
    env.update(CONFERENCE_DATABASE_URL=settings.database_url, CONFERENCE_DATA_DIR=str(settings.data_dir))
    return subprocess.run(
        [sys.executable, "-m", "conference", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )


async def test_chain_is_intact_after_ordinary_use(client, clinic, settings, session) -> None:
    await sign_in(client, "theo@clinic.test")
    await client.get(f"/patients/{clinic.patient.id}")
    result = await audit.verify(session)
    await session.rollback()
    assert result.broken is None
    assert result.events_checked >= 8
    cli = _verify_cli(settings)
    assert cli.returncode == 0, cli.stderr
    assert "intact" in cli.stdout


async def test_altered_event_is_named(client, clinic, settings, engine) -> None:
    await sign_in(client, "theo@clinic.test")
    await client.get(f"/patients/{clinic.patient.id}")
    async with engine.begin() as connection:
        target = (
            await connection.execute(
                select(AuditEvent.id, AuditEvent.sequence)
                .where(AuditEvent.action == "patient.read")
                .order_by(AuditEvent.sequence)
                .limit(1)
            )
        ).one()
        # Someone tries to hide who read the record.
        await connection.execute(update(AuditEvent).where(AuditEvent.id == target.id).values(actor_id=None))
    cli = _verify_cli(settings)
    assert cli.returncode == 1
    assert f"#{target.sequence}" in cli.stderr and str(target.id) in cli.stderr
    assert "altered" in cli.stderr


async def test_deleted_event_is_detected_at_the_gap(client, clinic, settings, engine) -> None:
    async with engine.begin() as connection:
        victim = (
            await connection.execute(select(AuditEvent.sequence).order_by(AuditEvent.sequence).offset(2).limit(1))
        ).scalar_one()
        await connection.execute(AuditEvent.__table__.delete().where(AuditEvent.sequence == victim))
    cli = _verify_cli(settings)
    assert cli.returncode == 1
    assert f"#{victim + 1}" in cli.stderr and "missing" in cli.stderr


async def test_concurrent_writers_keep_one_linear_chain(clinic, engine) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from conference.audit.service import Actor

    factory = async_sessionmaker(engine, expire_on_commit=False)

    async def write(index: int) -> None:
        async with factory() as session, session.begin():
            await audit.record(session, Actor.system(), "test.concurrent", detail={"index": index})

    await asyncio.gather(*(write(index) for index in range(20)))
    async with factory() as session:
        result = await audit.verify(session)
        count = len((await session.scalars(select(AuditEvent).where(AuditEvent.action == "test.concurrent"))).all())
    assert result.broken is None
    assert count == 20
