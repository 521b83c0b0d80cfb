from __future__ import annotations

import datetime as dt
import uuid

import pytest

from conference.auth import join_links
from conference.auth.join_links import JoinLinkInvalid, JoinPurpose

SECRET = "unit-test-secret"
NOW = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC)  # the morning US clocks fall back


def test_round_trip_names_one_patient_and_one_purpose() -> None:
    patient = uuid.uuid4()
    token = join_links.issue(
        SECRET, patient, JoinPurpose.JOINT_SESSION, NOW + dt.timedelta(hours=2), subject_id="meeting-1", now=NOW
    )
    claims = join_links.verify(SECRET, token, now=NOW + dt.timedelta(hours=1))
    assert claims.patient_id == patient
    assert claims.purpose is JoinPurpose.JOINT_SESSION
    assert claims.subject_id == "meeting-1"
    assert claims.expires_at == NOW + dt.timedelta(hours=2)


def test_token_carries_no_name_or_health_information() -> None:
    token = join_links.issue(SECRET, uuid.uuid4(), JoinPurpose.CONSENT, NOW + dt.timedelta(hours=1), now=NOW)
    import base64
    import json

    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert set(payload) == {"iss", "sub", "purpose", "iat", "exp", "jti"}


def test_expired_link_says_so() -> None:
    token = join_links.issue(SECRET, uuid.uuid4(), JoinPurpose.CONSENT, NOW + dt.timedelta(minutes=5), now=NOW)
    with pytest.raises(JoinLinkInvalid) as refused:
        join_links.verify(SECRET, token, now=NOW + dt.timedelta(minutes=5))
    assert refused.value.expired


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AB" if not token.endswith("AB") else "CD"),
        lambda token: token.split(".")[0] + ".e30." + token.split(".")[2],
        lambda token: "not-a-token",
        lambda token: "x" * 5000,
    ],
)
def test_tampered_links_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = join_links.issue(SECRET, uuid.uuid4(), JoinPurpose.CONSENT, NOW + dt.timedelta(hours=1), now=NOW)
    with pytest.raises(JoinLinkInvalid) as refused:
        join_links.verify(SECRET, mangle(token), now=NOW)
    assert not refused.value.expired


def test_link_from_another_installation_is_refused() -> None:
    token = join_links.issue("other secret", uuid.uuid4(), JoinPurpose.CONSENT, NOW + dt.timedelta(hours=1), now=NOW)
    with pytest.raises(JoinLinkInvalid):
        join_links.verify(SECRET, token, now=NOW)
