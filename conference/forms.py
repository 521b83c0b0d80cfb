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


def parse_form(
    form: FormMultiDict,
    target: type[T],
    *,
    lists: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> T:
    """Blank fields count as not given; ``lists`` names fields that repeat (checkboxes)."""
    data: dict[str, Any] = {}
    list_fields = set(lists)
    for key in set(form.keys()):
        if key.startswith("_"):
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
    reason = text.split(" - at ", 1)[0]
    if reason.startswith("Object missing required field"):
        field = reason.split("`")[1] if "`" in reason else field
        return InvalidInput(field, f"{_label(field)} is required.")
    if "length >=" in reason:
        return InvalidInput(field, f"{_label(field)} is too short.")
    if "length <=" in reason:
        return InvalidInput(field, f"{_label(field)} is too long.")
    if "match regex" in reason:
        return InvalidInput(field, f"{_label(field)} is not in a form we recognise.")
    if "Invalid enum value" in reason:
        return InvalidInput(field, f"{_label(field)}: choose one of the listed options.")
    return InvalidInput(field, f"{_label(field)}: {reason.rstrip('.')}.")


def _label(field: str) -> str:
    return field.replace("_", " ").capitalize()
