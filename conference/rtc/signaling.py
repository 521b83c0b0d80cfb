"""The signaling protocol of video rooms: typed JSON messages over a WebSocket. Pure.

Every message carries the protocol version ``v`` and a ``type``; each type is a structure validated
on arrival, and anything too large, malformed or unknown is refused with an error a client can show.
A field added to a server message (such as ``ParticipantOut.host``) keeps the version: clients ignore
what they do not know.

The codes a client acts on, ``CloseCode`` (how the socket closed) and ``RemovalCode`` (why a
``removed`` message ended someone's place), are defined here and nowhere else on the server; the
browser keeps its copy in ``web/static/js/room/signal.js``.
"""

from __future__ import annotations

import uuid
from enum import IntEnum, StrEnum
from typing import Annotated, Literal

import msgspec

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 64 * 1024  # an SDP for several audio and video tracks fits many times over
MAX_SDP_CHARS = 32 * 1024

Sdp = Annotated[str, msgspec.Meta(min_length=4, max_length=MAX_SDP_CHARS)]
ParticipantId = uuid.UUID
MediaKind = Literal["audio", "video"]
# Which of a participant's two connections a description or candidate belongs to: the client offers
# on "publish" (its microphone, camera and screen upstream), the server offers on "subscribe" (everyone
# else's media downstream), so neither side ever has to resolve an offer collision.
Connection = Literal["publish", "subscribe"]
Source = Literal["microphone", "camera", "screen"]


class CloseCode(IntEnum):
    """WebSocket close codes. The server sends a message saying why before it closes with a 4xxx code;
    after any 4xxx code the browser does not reconnect.
    """

    NORMAL = 1000  # the place ended (left, declined, removed); a message said why
    RESUMED_ELSEWHERE = 4000  # the same place was resumed on another socket
    PROTOCOL = 4400  # the first message was not a valid join
    REFUSED = 4403  # not allowed: another site's page, not signed in, not permitted now
    NOT_FOUND = 4404  # no such room, or not one for this person
    SILENT = 4408  # no join message arrived in time


class RemovalCode(StrEnum):
    """Why the server ended a participant's place (``Removed.code``)."""

    CONSENT = "consent"  # the patient's consent no longer covers them
    ROOM_CLOSED = "room_closed"  # the room's time is up, or the service is stopping
    JOINED_ELSEWHERE = "joined_elsewhere"  # the same person joined from another window or device


class SignalingError(Exception):
    """A message was refused; ``code`` is stable for programs, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    v: int = PROTOCOL_VERSION


# ---- from the client ----------------------------------------------------------------------------


class Join(_Message, tag="join"):
    """First message; ``resume`` picks up a place held after a short network drop."""

    resume: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class Track(msgspec.Struct, forbid_unknown_fields=True):
    """What one m-section carries: from a client, its own sources; from the server, whose and which."""

    mid: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    source: Source
    participant: ParticipantId | None = None


class Offer(_Message, tag="offer"):
    pc: Connection
    sdp: Sdp
    tracks: Annotated[list[Track], msgspec.Meta(max_length=256)] = msgspec.field(default_factory=list)


class Answer(_Message, tag="answer"):
    pc: Connection
    sdp: Sdp


class IceCandidate(_Message, tag="ice"):
    pc: Connection
    candidate: Annotated[str, msgspec.Meta(max_length=1024)]
    sdp_mid: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    sdp_mline_index: Annotated[int, msgspec.Meta(ge=0, le=64)] | None = None


class MediaState(_Message, tag="media_state"):
    audio: bool
    video: bool
    screen: bool = False


class Heartbeat(_Message, tag="heartbeat"):
    pass


class Admit(_Message, tag="admit"):
    participant: ParticipantId


class Decline(_Message, tag="decline"):
    participant: ParticipantId


class SendToLobby(_Message, tag="send_to_lobby"):
    participant: ParticipantId


class AskToMute(_Message, tag="ask_to_mute"):
    participant: ParticipantId
    kind: MediaKind = "audio"


class Leave(_Message, tag="leave"):
    pass


ClientMessage = (
    Join | Offer | Answer | IceCandidate | MediaState | Heartbeat | Admit | Decline | SendToLobby | AskToMute | Leave
)

# ---- from the server ----------------------------------------------------------------------------


class IceServerOut(msgspec.Struct):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class Welcome(_Message, tag="welcome"):
    participant: ParticipantId
    name: str
    role: str
    host: bool
    resume: str
    ice_servers: list[IceServerOut]
    heartbeat_seconds: int
    # "relay" makes the client use TURN only (clinics whose networks must not expose addresses).
    ice_transport_policy: Literal["all", "relay"] = "all"


class Waiting(_Message, tag="waiting"):
    """In the lobby: a clinician will let the patient in."""

    message: str


class Admitted(_Message, tag="admitted"):
    pass


class Declined(_Message, tag="declined"):
    message: str


class ParticipantOut(msgspec.Struct):
    participant: ParticipantId
    name: str
    role: str
    host: bool  # a clinician hosting the room (may admit, send to the lobby, ask to mute)
    audio: bool
    video: bool
    screen: bool
    speaking: bool = False


class Roster(_Message, tag="roster"):
    """Who is in the room and who waits in the lobby (the lobby is sent to hosts only)."""

    participants: list[ParticipantOut]
    lobby: list[ParticipantOut] = msgspec.field(default_factory=list)


class Removed(_Message, tag="removed"):
    """The server ended this participant's place: consent no longer covers them, or the room closed."""

    code: RemovalCode
    message: str


class MuteRequested(_Message, tag="mute_requested"):
    kind: MediaKind
    by: str


class Error(_Message, tag="error"):
    code: str
    message: str


ServerMessage = (
    Welcome
    | Waiting
    | Admitted
    | Declined
    | Removed
    | Roster
    | Offer
    | Answer
    | IceCandidate
    | MuteRequested
    | Heartbeat
    | Error
)

_client_decoder = msgspec.json.Decoder(ClientMessage)
_encoder = msgspec.json.Encoder()


def decode(raw: str | bytes) -> ClientMessage:
    """One client message, or ``SignalingError`` saying what is wrong with it."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_MESSAGE_BYTES:
        raise SignalingError("too_large", f"A message may be at most {MAX_MESSAGE_BYTES // 1024} KiB.")
    try:
        message: ClientMessage = _client_decoder.decode(data)
    except msgspec.ValidationError as error:
        text = str(error)
        if "Invalid value" in text and "$.type" in text:
            raise SignalingError("unknown_type", "That kind of message is not part of the protocol.") from None
        raise SignalingError("invalid", f"The message is not valid: {text}.") from None
    except msgspec.DecodeError:
        raise SignalingError("malformed", "The message is not valid JSON.") from None
    if message.v != PROTOCOL_VERSION:
        raise SignalingError(
            "version", f"This room speaks protocol version {PROTOCOL_VERSION}; reload the page to update."
        )
    if isinstance(message, Offer | Answer) and not message.sdp.startswith("v=0"):
        raise SignalingError("invalid_sdp", "The session description is malformed (it must start with v=0).")
    return message


def encode(message: ServerMessage | ClientMessage) -> str:
    return _encoder.encode(message).decode()
