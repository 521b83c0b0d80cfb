"""Patient join links: signed, single-purpose, expiring tokens naming one patient.

A JWT (HS256, via joserfc) signed with a key derived from the service's secret key. The token carries
only the patient's opaque id, the purpose and the expiry: nothing a reader could learn from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

_ISSUER = "conference:join-link"


class JoinPurpose(StrEnum):
    """What a patient may do with a link; each purpose gives a differently scoped session."""

    CONSENT = "consent"
    JOINT_SESSION = "joint_session"


class JoinLinkInvalid(Exception):
    """The link cannot be used; ``reason`` says why in words a patient understands."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


@dataclass(frozen=True)
class JoinClaims:
    patient_id: uuid.UUID
    purpose: JoinPurpose
    expires_at: dt.datetime
    link_id: str
    subject_id: str | None


def _key(secret_key: str) -> OctKey:
    derived = hashlib.sha256(f"join-link\x00{secret_key}".encode()).digest()
    return OctKey.import_key(derived)


def issue(
    secret_key: str,
    patient_id: uuid.UUID,
    purpose: JoinPurpose,
    expires_at: dt.datetime,
    *,
    subject_id: str | None = None,
    not_before: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A token for one patient and one purpose; ``subject_id`` narrows it further (e.g. one meeting)."""
    issued = now or dt.datetime.now(dt.UTC)
    claims: dict[str, object] = {
        "iss": _ISSUER,
        "sub": str(patient_id),
        "purpose": purpose.value,
        "iat": int(issued.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_urlsafe(12),
    }
    if subject_id is not None:
        claims["for"] = subject_id
    if not_before is not None:
        claims["nbf"] = int(not_before.timestamp())
    return jwt.encode({"alg": "HS256"}, claims, _key(secret_key))


def verify(secret_key: str, token: str, *, now: dt.datetime | None = None) -> JoinClaims:
    if len(token) > 4096:
        raise JoinLinkInvalid("This link is not valid.")
    try:
        decoded = jwt.decode(token, _key(secret_key), algorithms=["HS256"])
    except (JoseError, ValueError):
        raise JoinLinkInvalid("This link is not valid. It may have been copied incompletely or changed.") from None
    claims = decoded.claims
    try:
        patient_id = uuid.UUID(str(claims["sub"]))
        purpose = JoinPurpose(str(claims["purpose"]))
        expires_at = dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
        if claims.get("iss") != _ISSUER:
            raise ValueError("issuer")
    except (KeyError, ValueError, TypeError):
        raise JoinLinkInvalid("This link is not valid.") from None
    moment = now or dt.datetime.now(dt.UTC)
    if moment >= expires_at:
        raise JoinLinkInvalid("This link has expired.", expired=True)
    if "nbf" in claims and moment < dt.datetime.fromtimestamp(int(claims["nbf"]), dt.UTC):
        opens = dt.datetime.fromtimestamp(int(claims["nbf"]), dt.UTC)
        raise JoinLinkInvalid(
            f"This link opens 30 minutes before your meeting, at {opens:%H:%M} UTC on {opens:%d %B %Y}. "
            "Please come back then."
        )
    return JoinClaims(
        patient_id=patient_id,
        purpose=purpose,
        expires_at=expires_at,
        link_id=str(claims.get("jti", "")),
        subject_id=str(claims["for"]) if "for" in claims else None,
    )
