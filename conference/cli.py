"""The ``conference`` command."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from conference.audit.service import VerifyResult
from conference.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


@click.group()
def main() -> None:
    """Case conferences for behavioral-health care teams."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the service."""
    import uvicorn

    from conference.app import create_app
    from conference.db import upgrade_database

    settings = _settings()
    if settings.is_sqlite and settings.auto_upgrade_database:
        upgrade_database(settings)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the demo clinic as one JSON object.")
@click.option("--meeting-now", is_flag=True, help="Also book a joint session running now, to try the video room.")
def demo(as_json: bool, meeting_now: bool) -> None:
    """Create (or refresh) the demo clinic and print how to sign in."""
    from conference.db import upgrade_database
    from conference.demo import create_demo, describe

    settings = _settings()
    upgrade_database(settings)
    result = asyncio.run(create_demo(settings, meeting_now=meeting_now))
    click.echo(json.dumps(result, indent=2) if as_json else describe(result))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from conference.db import upgrade_database

    upgrade_database(_settings(), revision)
    click.echo(f"Database upgraded to {revision}.")


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the whole audit chain; exit 1 naming the first broken event."""
    from conference.audit.service import verify
    from conference.db import session_scope

    async def run() -> VerifyResult:
        async with session_scope(_settings()) as session:
            return await verify(session)

    result = asyncio.run(run())
    if result.broken is None:
        click.echo(
            f"Audit trail intact: {result.events_checked} events verified. "
            f"Newest event hash: {result.newest_hash} (keep it elsewhere to detect removal of recent events)."
        )
        return
    click.echo(
        f"Audit trail BROKEN at event #{result.broken.sequence} (id {result.broken.event_id}): "
        f"{result.broken.reason}. {result.events_checked} earlier events verified.",
        err=True,
    )
    sys.exit(1)


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="therapist, counselor, psychiatrist, nurse_practitioner, primary_care_physician, case_manager, "
    "social_worker, peer_specialist, medical_director or admin; repeat for several.",
)
@click.option("--time-zone", default="UTC", show_default=True)
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters. Prompted for when not given.",
)
def users_create(email: str, name: str, roles: tuple[str, ...], time_zone: str, password: str) -> None:
    """Create a staff account."""
    import msgspec

    from conference.audit.service import Actor
    from conference.db import session_scope
    from conference.errors import DomainError
    from conference.people.schemas import PersonCreate
    from conference.people.service import create_person

    try:
        data = msgspec.convert(
            {
                "email": email,
                "name": name,
                "roles": list(roles),
                "time_zone": time_zone,
                "password": password,
            },
            PersonCreate,
        )
    except msgspec.ValidationError as error:
        raise click.UsageError(str(error)) from error

    async def run() -> str:
        async with session_scope(_settings()) as session:
            return str((await create_person(session, Actor.system(), data)).id)

    try:
        person_id = asyncio.run(run())
    except DomainError as error:
        raise click.UsageError(error.message) from error
    click.echo(f"Created {email} ({person_id}).")
