"""Collections: the unit a media token grants, named `<owner>:<object>` (e.g. `issues:OPS-12`)."""

from __future__ import annotations

import re

from tenantry.platform.errors import ApiError
from tenantry.services.media.models import COLLECTION_LENGTH

_COLLECTION = re.compile(r"^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9][A-Za-z0-9._-]{0,94}$")
_ID = re.compile(r"^[0-9a-f]{32}$")


def check_collection(collection: str) -> str:
    """The collection name if well formed; 400 `invalid_collection` otherwise."""
    if len(collection) > COLLECTION_LENGTH or not _COLLECTION.match(collection):
        raise ApiError(
            400, "invalid_collection", "a collection is `<owner>:<object>`, e.g. `issues:OPS-12`"
        )
    return collection


def check_id(value: str, what: str) -> str:
    """A file or upload id (32 hex digits); 404 for anything else, as for an unknown one."""
    if not _ID.match(value):
        raise ApiError(404, "not_found", f"{what} was not found")
    return value
