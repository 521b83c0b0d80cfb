"""Which encoded frames a new subscriber can start decoding from."""

from __future__ import annotations

import pytest

from conference.rtc.keyframes import h264_nal_types, is_keyframe

START = b"\x00\x00\x00\x01"


@pytest.mark.parametrize(
    ("mime", "frame", "expected"),
    [
        ("video/VP8", bytes([0b1001_0000, 0x01, 0x2A]), True),  # frame tag bit 0 clear: key frame
        ("video/VP8", bytes([0b1001_0001, 0x01, 0x2A]), False),
        ("video/VP8", b"", False),
        ("video/H264", START + bytes([0x67, 1]) + START + bytes([0x68, 2]) + START + bytes([0x65, 3]), True),
        ("video/H264", START + bytes([0x65, 3]), True),  # IDR slice alone
        ("video/H264", START + bytes([0x41, 9]), False),  # non-IDR slice
        ("video/H264", b"\x00\x00\x01" + bytes([0x61, 9]), False),  # three-byte start code, non-IDR
        ("audio/opus", b"\x01", True),
        ("video/VP9", b"\x00", False),
    ],
)
def test_keyframes_are_recognised_per_codec(mime: str, frame: bytes, expected: bool) -> None:
    assert is_keyframe(mime, frame) is expected


def test_nal_types_are_read_from_every_start_code() -> None:
    stream = START + bytes([0x67, 0]) + b"\x00\x00\x01" + bytes([0x68]) + START + bytes([0x65])
    assert h264_nal_types(stream) == [7, 8, 5]
