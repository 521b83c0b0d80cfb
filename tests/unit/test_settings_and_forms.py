from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from litestar.datastructures import FormMultiDict

from conference.errors import InvalidInput
from conference.forms import parse_form
from conference.people.schemas import PatientCreate, PersonCreate
from conference.settings import Settings, SettingsError


def test_defaults_need_nothing_installed(tmp_path: Path) -> None:
    settings = Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'conference.db'}"
    assert settings.session_idle_minutes == 15 and settings.session_lifetime_hours == 12
    assert settings.redis_url is None and not settings.oidc_enabled


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path)}).secret_key
    second = Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 48
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path / "other")}).secret_key != first


def test_environment_overrides_and_driver_names(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CONFERENCE_DATA_DIR": str(tmp_path),
            "CONFERENCE_DATABASE_URL": "postgresql://db.internal/clinic",
            "CONFERENCE_SESSION_IDLE_MINUTES": "10",
            "CONFERENCE_BASE_URL": "https://conference.clinic.example",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://db.internal/clinic"
    assert settings.session_idle_minutes == 10
    assert settings.secure_cookies


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SESSION_IDLE_MINUTES", "soon", "whole number"),
        ("SESSION_LIFETIME_HOURS", "0", "greater than zero"),
        ("DATABASE_URL", "mysql://x/y", "PostgreSQL or SQLite"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path), f"CONFERENCE_{name}": value})


def test_form_fields_become_typed_values() -> None:
    form = FormMultiDict([("name", " Pat "), ("date_of_birth", "1990-01-02"), ("email", ""), ("_csrf_token", "t")])
    patient = parse_form(form, PatientCreate)
    assert patient.name == "Pat" and patient.date_of_birth == dt.date(1990, 1, 2) and patient.email is None


def test_repeated_checkboxes_become_a_list() -> None:
    form = FormMultiDict([("name", "X"), ("email", "x@clinic.test"), ("roles", "therapist"), ("roles", "admin")])
    assert sorted(parse_form(form, PersonCreate, lists=["roles"]).roles) == ["admin", "therapist"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ([("email", "x@clinic.test"), ("roles", "therapist")], "name", "Name is required."),
        ([("name", "X"), ("email", "nope"), ("roles", "therapist")], "email", "Email is not in a form we recognise."),
        ([("name", "X"), ("email", "x@clinic.test")], "roles", "Roles is too short."),
        ([("name", "X"), ("email", "x@clinic.test"), ("roles", "wizard")], "roles", "choose one of the listed"),
    ],
)
def test_form_errors_name_the_field(fields, field, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as error:
        parse_form(FormMultiDict(fields), PersonCreate, lists=["roles"])
    assert error.value.field == field
    assert message in error.value.message
