"""Opaque keyset-pagination cursors: the sort key of the last row a page showed.

Clients must treat a cursor as an opaque string; it is base64url JSON so the format can change
without breaking them. A cursor that does not decode to the expected shape is a 422.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from tenantry.platform.errors import ApiError

MAX_CURSOR_LENGTH = 512


def encode_cursor(*parts: str | int) -> str:
    """Pack a row's sort key into an opaque cursor."""
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> tuple[Any, ...]:
    """Unpack a cursor whose parts must have exactly the types in `shape`, or answer 422."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, UnicodeError, binascii.Error):
        raise _invalid() from None
    if not isinstance(parts, list) or len(parts) != len(shape):
        raise _invalid()
    # bool is an int subclass; a cursor never holds one.
    if any(type(part) is not kind for part, kind in zip(parts, shape, strict=True)):
        raise _invalid()
    return tuple(parts)


def _invalid() -> ApiError:
    return ApiError(422, "invalid_cursor", "the cursor is not one this API handed out")
