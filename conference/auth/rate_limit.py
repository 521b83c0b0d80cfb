"""Sign-in attempt limits, per account and per client address, kept in a shared store.

Fixed windows in a Litestar store (the database by default, Redis when configured), so the limit
holds across restarts and across service instances.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from litestar.stores.base import Store

from conference.errors import TooManyAttempts


@dataclass(frozen=True)
class SignInLimits:
    per_account: int
    per_address: int
    window_seconds: int


def _key(kind: str, value: str) -> str:
    # Hashed so the store never holds email addresses in the clear.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


async def check(store: Store, limits: SignInLimits, email: str, address: str | None) -> None:
    """Refuse before checking the password when either counter is exhausted."""
    for kind, value, limit in _counters(limits, email, address):
        if await _count(store, _key(kind, value)) >= limit:
            minutes = max(1, -(-(await store.expires_in(_key(kind, value)) or limits.window_seconds) // 60))
            raise TooManyAttempts(
                f"Too many sign-in attempts {'for this account' if kind == 'account' else 'from this network'}. "
                f"Wait {minutes} minute{'s' if minutes != 1 else ''} and try again, or ask your clinic "
                "administrator to reset your password.",
                extra={"retry_after_seconds": await store.expires_in(_key(kind, value)) or limits.window_seconds},
            )


async def record_failure(store: Store, limits: SignInLimits, email: str, address: str | None) -> None:
    for kind, value, _limit in _counters(limits, email, address):
        key = _key(kind, value)
        remaining = await store.expires_in(key)
        count = await _count(store, key) + 1
        await store.set(key, str(count), expires_in=remaining if remaining and remaining > 0 else limits.window_seconds)


async def record_success(store: Store, email: str) -> None:
    await store.delete(_key("account", email))


def _counters(limits: SignInLimits, email: str, address: str | None) -> list[tuple[str, str, int]]:
    counters = [("account", email.strip().lower(), limits.per_account)]
    if address:
        counters.append(("address", address, limits.per_address))
    return counters


async def _count(store: Store, key: str) -> int:
    raw = await store.get(key)
    return int(raw) if raw else 0
