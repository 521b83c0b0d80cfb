"""TURN REST credentials and the ICE server list a participant gets."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from conference.rtc.ice import ice_servers, turn_credentials
from conference.settings import Settings, SettingsError

NOW = dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)


def test_username_names_the_expiry_and_the_user() -> None:
    username, _ = turn_credentials("s3cret", "person-42", now=NOW, ttl=dt.timedelta(hours=2))
    expiry, user = username.split(":")
    assert user == "person-42"
    assert dt.datetime.fromtimestamp(int(expiry), dt.UTC) == NOW + dt.timedelta(hours=2)


def test_password_is_the_hmac_sha1_that_coturn_computes() -> None:
    username, password = turn_credentials("s3cret", "person-42", now=NOW, ttl=dt.timedelta(hours=2))
    # An independent implementation of the same scheme: OpenSSL on the command line.
    expected = subprocess.run(
        f"printf %s '{username}' | openssl dgst -sha1 -hmac 's3cret' -binary | base64",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert password == expected


@pytest.mark.parametrize(
    ("secret", "user", "ttl", "words"),
    [
        ("", "a", dt.timedelta(hours=1), "secret is required"),
        ("s", "a:b", dt.timedelta(hours=1), "may not contain"),
        ("s", "a", dt.timedelta(minutes=1), "between 5 minutes and 24 hours"),
        ("s", "a", dt.timedelta(days=2), "between 5 minutes and 24 hours"),
    ],
)
def test_bad_requests_are_refused(secret: str, user: str, ttl: dt.timedelta, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        turn_credentials(secret, user, now=NOW, ttl=ttl)


def test_turn_is_offered_only_with_a_secret() -> None:
    common = {
        "stun_urls": ("stun:stun.clinic.example:3478",),
        "turn_urls": ("turn:turn.clinic.example:3478",),
        "user_id": "p",
        "now": NOW,
        "ttl": dt.timedelta(hours=1),
    }
    without = ice_servers(turn_secret=None, **common)  # type: ignore[arg-type]
    assert [server.as_browser_config() for server in without] == [{"urls": ["stun:stun.clinic.example:3478"]}]
    with_secret = ice_servers(turn_secret="s", **common)  # type: ignore[arg-type]
    turn = with_secret[1].as_browser_config()
    assert turn["urls"] == ["turn:turn.clinic.example:3478"] and str(turn["username"]).endswith(":p")


def test_ice_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "CONFERENCE_DATA_DIR": str(tmp_path),
            "CONFERENCE_STUN_URLS": "stun:a.example:3478, stun:b.example:3478",
            "CONFERENCE_TURN_URLS": "turn:t.example:3478?transport=udp",
            "CONFERENCE_TURN_SECRET": "s",
        }
    )
    assert settings.stun_urls == ("stun:a.example:3478", "stun:b.example:3478")
    assert settings.turn_urls == ("turn:t.example:3478?transport=udp",)
    with pytest.raises(SettingsError, match="must start with turn: or turns:"):
        Settings.from_env({"CONFERENCE_DATA_DIR": str(tmp_path), "CONFERENCE_TURN_URLS": "http://x"})
