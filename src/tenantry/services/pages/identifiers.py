"""The shapes of space keys and page ids in URLs, checked before any storage is touched."""

from __future__ import annotations

import re

from tenantry.platform.errors import ApiError
from tenantry.services.pages.schemas import PAGE_ID_PATTERN, SPACE_KEY_PATTERN

_SPACE_KEY = re.compile(SPACE_KEY_PATTERN)
_PAGE_ID = re.compile(PAGE_ID_PATTERN)


def parse_space_key(value: str) -> str:
    """A space key from a URL, or 404 `space_not_found` (no such key can exist)."""
    if not _SPACE_KEY.fullmatch(value):
        raise ApiError(404, "space_not_found", "no such space")
    return value


def parse_page_id(value: str) -> str:
    """A page id from a URL, or 404 `page_not_found` (no such id can exist)."""
    if not _PAGE_ID.fullmatch(value):
        raise ApiError(404, "page_not_found", "no such page")
    return value
