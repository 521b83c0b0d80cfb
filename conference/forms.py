"""Turning posted HTML forms into the same typed structures the JSON API validates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from conference.errors import InvalidInput

T = TypeVar("T")

_PATH = re.compile(r"\$\.(\w+)")
_INDEX = re.compile(r"\[\d+\]$")


def parse_form(
    form: FormMultiDict,
    target: type[T],
    *,
    lists: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    only: Iterable[str] | None = None,
) -> T:
    """Blank fields count as not given; ``lists`` names fields that repeat (checkboxes); ``only``
    limits which posted fields are read, when one form feeds several structures."""
    data: dict[str, Any] = {}
    list_fields = set(lists)
    wanted = set(only) if only is not None else None
    for key in set(form.keys()):
        if key.startswith("_") or (wanted is not None and key not in wanted):
            continue
        if key in list_fields:
            data[key] = [value for value in form.getall(key) if value != ""]
        elif isinstance(value := form.get(key), str) and value.strip() != "":
            data[key] = value.strip()
    for key in list_fields:
        data.setdefault(key, [])
    data.update(extra or {})
    try:
        return msgspec.convert(data, target, strict=False)
    except msgspec.ValidationError as error:
        raise _as_invalid_input(str(error)) from None


def _as_invalid_input(text: str) -> InvalidInput:
    match = _PATH.search(text)
    field = match.group(1) if match else "form"
    field, message = explain(field, text.split(" - at ", 1)[0])
    return InvalidInput(field, message)


def explain(field: str, reason: str) -> tuple[str, str]:
    """The field a validator's complaint is about, and the complaint as a sentence about it."""
    if reason.startswith(("Object missing required field", "Object contains unknown field")) and "`" in reason:
        field = reason.split("`")[1]
    field = _INDEX.sub("", field)
    return field, _sentence(field, reason)


def _sentence(field: str, reason: str) -> str:
    label = field.replace("_", " ").capitalize()
    if reason.startswith("Object missing required field"):
        return f"{label} is required."
    if "length >=" in reason:
        return f"{label} is too short."
    if "length <=" in reason:
        return f"{label} is too long."
    if "matching regex" in reason:
        return f"{label} is not in a form we recognise."
    if "Invalid enum value" in reason:
        return f"{label}: choose one of the listed options."
    if "Object contains unknown field" in reason:
        return f"{label} is not a field this accepts."
    return f"{label}: {reason.rstrip('.')}."
