"""The room signaling protocol: typed, versioned, size-limited, refusing bad input with a reason."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import msgspec
import pytest

from conference.rtc import signaling
from conference.rtc.signaling import SignalingError

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"v": 1, "type": "join"}, signaling.Join),
        (
            {"v": 1, "type": "offer", "pc": "publish", "sdp": SDP, "tracks": [{"mid": "0", "source": "camera"}]},
            signaling.Offer,
        ),
        ({"v": 1, "type": "answer", "pc": "subscribe", "sdp": SDP}, signaling.Answer),
        (
            {
                "v": 1,
                "type": "ice",
                "pc": "publish",
                "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
                "sdp_mid": "0",
                "sdp_mline_index": 0,
            },
            signaling.IceCandidate,
        ),
        ({"v": 1, "type": "media_state", "audio": False, "video": True}, signaling.MediaState),
        ({"v": 1, "type": "admit", "participant": str(uuid.UUID(int=7))}, signaling.Admit),
        ({"v": 1, "type": "ask_to_mute", "participant": str(uuid.UUID(int=7)), "kind": "video"}, signaling.AskToMute),
        ({"v": 1, "type": "leave"}, signaling.Leave),
    ],
)
def test_known_messages_decode_to_their_type(raw: dict[str, object], kind: type) -> None:
    message = signaling.decode(json.dumps(raw))
    assert isinstance(message, kind)
    assert signaling.decode(signaling.encode(message)) == message
    encoded = json.loads(signaling.encode(message))
    for key, value in raw.items():
        if key == "tracks":
            value = [{"participant": None, **track} for track in value]  # type: ignore[attr-defined]
        assert encoded[key] == value


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "malformed"),
        (json.dumps({"v": 1, "type": "teleport"}), "unknown_type"),
        (json.dumps({"v": 2, "type": "join"}), "version"),
        (json.dumps({"v": 1, "type": "offer", "pc": "publish"}), "invalid"),
        (json.dumps({"v": 1, "type": "offer", "sdp": SDP}), "invalid"),
        (json.dumps({"v": 1, "type": "offer", "pc": "sideways", "sdp": SDP}), "invalid"),
        (json.dumps({"v": 1, "type": "offer", "pc": "publish", "sdp": "hello there"}), "invalid_sdp"),
        (
            json.dumps({"v": 1, "type": "offer", "pc": "publish", "sdp": SDP, "tracks": [{"mid": "0", "source": "x"}]}),
            "invalid",
        ),
        (json.dumps({"v": 1, "type": "admit", "participant": "someone"}), "invalid"),
        (json.dumps({"v": 1, "type": "join", "extra": True}), "invalid"),
        (json.dumps({"v": 1, "type": "offer", "pc": "publish", "sdp": "v=0" + "a" * 40_000}), "invalid"),
        ("x" * (signaling.MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_bad_messages_are_refused_with_a_code_and_a_reason(raw: str, code: str) -> None:
    with pytest.raises(SignalingError) as refused:
        signaling.decode(raw)
    assert refused.value.code == code
    assert refused.value.message


def test_server_messages_carry_the_version_and_type() -> None:
    welcome = signaling.Welcome(
        participant=uuid.UUID(int=1),
        name="Dana Reyes",
        role="Therapist",
        host=True,
        resume="r",
        heartbeat_seconds=10,
        ice_servers=[signaling.IceServerOut(urls=["turn:127.0.0.1:3478"], username="u", credential="c")],
    )
    body = json.loads(signaling.encode(welcome))
    assert body["v"] == 1 and body["type"] == "welcome"
    assert body["ice_servers"][0]["urls"] == ["turn:127.0.0.1:3478"]


def test_the_roster_says_who_hosts_without_a_new_protocol_version() -> None:
    host = signaling.ParticipantOut(
        participant=uuid.UUID(int=1),
        name="Dana Reyes",
        role="Therapist",
        host=True,
        audio=True,
        video=True,
        screen=False,
    )
    patient = signaling.ParticipantOut(
        participant=uuid.UUID(int=2), name="Sam Lee", role="Patient", host=False, audio=True, video=False, screen=False
    )
    body = json.loads(signaling.encode(signaling.Roster(participants=[host, patient], lobby=[])))
    assert body["v"] == signaling.PROTOCOL_VERSION == 1
    assert [(p["name"], p["host"]) for p in body["participants"]] == [("Dana Reyes", True), ("Sam Lee", False)]
    decoded = msgspec.json.decode(signaling.encode(signaling.Roster(participants=[host])), type=signaling.ServerMessage)
    assert decoded == signaling.Roster(participants=[host])


def test_removals_carry_a_code_from_the_one_list_of_them() -> None:
    removed = signaling.Removed(code=signaling.RemovalCode.CONSENT, message="Consent no longer covers you.")
    assert json.loads(signaling.encode(removed))["code"] == "consent"
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"v": 1, "type": "removed", "code": "vanished", "message": "x"}', type=signaling.Removed)


def _js_object(source: str, name: str) -> dict[str, str]:
    found = re.search(rf"export const {name} = Object\.freeze\(\{{(.*?)\}}\);", source, re.DOTALL)
    assert found, f"{name} is not exported from room/signal.js"
    return dict(re.findall(r'(\w+):\s*"?([\w]+)"?,', found.group(1)))


def test_the_browser_keeps_an_exact_copy_of_the_close_and_removal_codes() -> None:
    source = (Path(__file__).parents[2] / "web/static/js/room/signal.js").read_text()
    assert _js_object(source, "CLOSE") == {code.name: str(code.value) for code in signaling.CloseCode}
    assert _js_object(source, "REMOVAL") == {code.name: code.value for code in signaling.RemovalCode}
    # Every code the server closes with is one the browser treats as final (4xxx) or a normal close.
    assert all(code == 1000 or 4000 <= code <= 4999 for code in signaling.CloseCode)
