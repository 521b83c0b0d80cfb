"""Content hashes that signatures refer to: the SHA-256 of a canonical JSON form.

Canonical means the same value always gives the same bytes: keys sorted at every level, UUIDs and
dates in their ISO text form, no insignificant whitespace. A signature records the hash of what the
signer saw, so anything that changes the content changes the hash and the signature no longer fits.
"""

from __future__ import annotations

import hashlib

import msgspec


def canonical_json(value: object) -> bytes:
    return msgspec.json.encode(msgspec.to_builtins(value, order="sorted"))


def content_hash(value: object) -> str:
    """SHA-256, as 64 lowercase hex digits, of ``value``'s canonical JSON."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
