"""Input and output shapes of the people capability, shared by the JSON API and the pages."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from conference.people.roles import Role, TeamRole

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=40, pattern=r"^[0-9+()\-. ]+$")]
TimeZoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=1024)]
ContactMethod = Literal["email", "phone", "text"]


class PersonCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    email: Email
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)]
    time_zone: TimeZoneName = "UTC"
    password: Password | None = None


class PersonUpdate(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    name: Name | None = None
    email: Email | None = None
    roles: Annotated[list[Role], msgspec.Meta(min_length=1)] | None = None
    time_zone: TimeZoneName | None = None
    active: bool | None = None
    password: Password | None = None


class PersonOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    email: str
    roles: list[Role]
    time_zone: str
    active: bool
    prescriber: bool
    version: int


class PatientCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    date_of_birth: dt.date
    email: Email | None = None
    phone: Phone | None = None
    preferred_contact: ContactMethod = "email"
    time_zone: TimeZoneName = "UTC"
    representative_name: Name | None = None
    representative_relationship: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    representative_email: Email | None = None
    representative_phone: Phone | None = None


ClearablePatientField = Literal[
    "email",
    "phone",
    "representative_name",
    "representative_relationship",
    "representative_email",
    "representative_phone",
]


class PatientUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Fields left out (or null) stay as they are; fields named in ``clear`` are emptied."""

    version: int
    name: Name | None = None
    date_of_birth: dt.date | None = None
    email: Email | None = None
    phone: Phone | None = None
    preferred_contact: ContactMethod | None = None
    time_zone: TimeZoneName | None = None
    representative_name: Name | None = None
    representative_relationship: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    representative_email: Email | None = None
    representative_phone: Phone | None = None
    active: bool | None = None
    clear: list[ClearablePatientField] = msgspec.field(default_factory=list)


class TeamMemberOut(msgspec.Struct):
    id: uuid.UUID
    person_id: uuid.UUID
    name: str
    team_role: TeamRole
    is_crisis_lead: bool


class PatientOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    date_of_birth: dt.date
    email: str | None
    phone: str | None
    preferred_contact: str
    time_zone: str
    representative_name: str | None
    representative_relationship: str | None
    active: bool
    version: int
    care_team: list[TeamMemberOut]


class TeamMemberAdd(msgspec.Struct, forbid_unknown_fields=True):
    person_id: uuid.UUID
    team_role: TeamRole
    is_crisis_lead: bool = False
