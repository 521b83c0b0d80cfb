"""Domain errors. Services raise these; ``app.py`` turns them into HTTP answers in one place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Something a person can act on, worded for them."""

    status_code = 400

    def __init__(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = dict(extra or {})


class InvalidInput(DomainError):
    status_code = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, extra={"field": field})
        self.field = field


class NotFound(DomainError):
    """Also answered when the caller may not know whether the thing exists."""

    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


class StaleEdit(Conflict):
    """Someone else saved first; the caller must reload and reapply."""


class TooManyAttempts(DomainError):
    status_code = 429


def require_version(current: int, expected: int, what: str) -> None:
    """Optimistic locking: refuse an edit based on a version someone else has since replaced."""
    if current != expected:
        raise StaleEdit(
            f"This {what} was changed by someone else since you loaded it (version {expected}, now {current}). "
            "Reload it and apply your change again.",
            extra={"current_version": current},
        )


def require_aware(moment: dt.datetime, field: str) -> dt.datetime:
    """A time given with its offset, as UTC; a naive one is refused (it could mean any zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(field, "Give the time with its time zone offset, for example 2026-03-03T09:00:00-05:00.")
    return moment.astimezone(dt.UTC)
