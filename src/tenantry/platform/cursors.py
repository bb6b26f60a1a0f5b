"""List cursors a service hands out and takes back: opaque, signed, and good for one list only.

A cursor names where the next page of a listing starts (the sort key of the last row shown).
It is base64url JSON followed by an HMAC-SHA256 tag, made with a key derived from the service's
own private key, over the cursor's parts and the listing it belongs to: the tenant, and which
list with which filters. So a cursor the service did not hand out, one edited, or one of another
site or another list is refused with 400 `bad_cursor`, before anything in it is looked at.
Every process of a service derives the same key, so a cursor works whichever one serves the
next page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import ServiceKey

MAX_CURSOR_LENGTH = 512
GLOBAL_SCOPE = "-"
"""The scope of a control-plane list that belongs to no tenant (the operator's)."""
_TAG_BYTES = 32
_KEY_INFO = b"tenantry list cursor v1"
_SEPARATOR = "."


@dataclass(frozen=True, slots=True)
class Listing:
    """Which list a cursor belongs to: a scope (a tenant's cloud id) and the list with its
    filters, in a fixed order."""

    scope: str
    name: str

    @classmethod
    def of_tenant(cls, name: str, filters: Mapping[str, object] | None = None) -> Listing:
        """The listing `name` of the current tenant, narrowed by `filters` (None: not set)."""
        given = {key: value for key, value in (filters or {}).items() if value is not None}
        if given:
            name += "?" + json.dumps(given, sort_keys=True, separators=(",", ":"))
        return cls(require_tenant().cloud_id, name)


class ListCursors:
    """Seal and open the cursors of one service's listings."""

    def __init__(self, key: ServiceKey) -> None:
        secret = key.private_key.private_numbers().private_value.to_bytes(32, "big")
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=key.kid.encode(), info=_KEY_INFO
        ).derive(secret)

    def seal(self, listing: Listing, *parts: str | int) -> str:
        """The cursor that resumes `listing` after the row whose sort key is `parts`."""
        payload = json.dumps(list(parts), separators=(",", ":")).encode()
        return f"{_b64(payload)}{_SEPARATOR}{_b64(self._tag(listing, payload))}"

    def open(self, cursor: str, listing: Listing, shape: tuple[type, ...]) -> tuple[Any, ...]:
        """The sort key a cursor of `listing` holds, each part of the type in `shape`; 400
        `bad_cursor` for anything this service did not hand out for exactly this listing."""
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(_SEPARATOR) != 1:
            raise bad_cursor()
        encoded_payload, encoded_tag = cursor.split(_SEPARATOR)
        try:
            payload, tag = _unb64(encoded_payload), _unb64(encoded_tag)
        except (ValueError, binascii.Error):
            raise bad_cursor() from None
        if not hmac.compare_digest(tag, self._tag(listing, payload)):
            raise bad_cursor()
        try:
            parts = json.loads(payload)
        except ValueError:
            raise bad_cursor() from None
        # bool is an int subclass; a cursor never holds one.
        if (
            not isinstance(parts, list)
            or len(parts) != len(shape)
            or any(type(part) is not kind for part, kind in zip(parts, shape, strict=True))
        ):
            raise bad_cursor()
        return tuple(parts)

    def _tag(self, listing: Listing, payload: bytes) -> bytes:
        bound = json.dumps([listing.scope, listing.name], separators=(",", ":")).encode()
        message = len(bound).to_bytes(4, "big") + bound + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]


def bad_cursor() -> ApiError:
    """The refusal of a cursor that is not one this service handed out for this list."""
    return ApiError(400, "bad_cursor", "the cursor is not one this API handed out for this list")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text:
        raise ValueError("empty")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
