"""Whether an encoded video frame can be decoded on its own. Pure.

A subscriber who joins mid-stream can only start decoding at such a frame, so the SFU holds each new
subscriber back until one passes and asks the publisher for one.
"""

from __future__ import annotations

_H264_IDR = 5
_H264_SPS = 7


def is_keyframe(mime_type: str, frame: bytes) -> bool:
    """True for frames a decoder can start from; audio frames always are."""
    kind, _, codec = mime_type.lower().partition("/")
    if kind == "audio":
        return True
    if codec == "vp8":
        # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
        return bool(frame) and frame[0] & 0x01 == 0
    if codec == "h264":
        return any(nal_type in (_H264_IDR, _H264_SPS) for nal_type in h264_nal_types(frame))
    return False


def h264_nal_types(frame: bytes) -> list[int]:
    """The NAL unit types of an Annex-B byte stream (units separated by 00 00 01 start codes)."""
    types: list[int] = []
    index = frame.find(b"\x00\x00\x01")
    while index != -1 and index + 3 < len(frame):
        types.append(frame[index + 3] & 0x1F)
        index = frame.find(b"\x00\x00\x01", index + 3)
    return types
