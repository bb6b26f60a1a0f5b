"""The two ways encryption at rest can go wrong: bad stored bytes, or a caller's bad arguments.

Messages name lengths, versions and frame numbers only; they never carry key bytes or plaintext.
"""

from __future__ import annotations

from typing import Literal

RejectReason = Literal[
    "unknown_format",
    "truncated",
    "key_unavailable",
    "authentication_failed",
    "trailing_data",
]

InputReason = Literal[
    "invalid_key",
    "invalid_context",
    "invalid_frame_size",
    "invalid_size",
    "too_large",
]


class CiphertextRejected(Exception):
    """Stored bytes that must not be trusted; `reason` says why in a machine-readable way.

    - unknown_format: not a format this code writes (wrong version byte, impossible header).
    - truncated: too short to be complete, or a stream that ends before its last frame.
    - key_unavailable: the key lookup raised or returned a key of another version.
    - authentication_failed: wrong key, moved to another place, or any byte changed.
    - trailing_data: bytes follow the authenticated end of a stream.
    """

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.reason: RejectReason = reason
        self.message = message


class EncryptionError(ValueError):
    """A caller passed something encryption cannot work with (bad key, empty context, ...)."""

    def __init__(self, reason: InputReason, message: str) -> None:
        super().__init__(message)
        self.reason: InputReason = reason
        self.message = message
