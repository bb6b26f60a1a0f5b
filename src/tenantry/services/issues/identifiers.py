"""The shapes of project keys, issue keys and issue ids, and how a path reference is read.

A reference in a URL is either an issue key (`OPS-12`) or an internal id (32 hex digits);
anything else is refused before storage is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tenantry.platform.errors import ApiError

PROJECT_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
LABEL_PATTERN = r"^[A-Za-z0-9_.-]{1,50}$"

_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9]{1,9}")
_ISSUE_KEY = re.compile(r"([A-Z][A-Z0-9]{1,9})-([1-9][0-9]{0,9})")
_ISSUE_ID = re.compile(r"[0-9a-f]{32}")
MAX_ISSUE_NUMBER = 2**31 - 1
"""Issue numbers are 32-bit integers in storage; a larger one names no issue."""


@dataclass(frozen=True, slots=True)
class IssueRef:
    """An issue named by key (`project` and `number` set) or by internal id (`id` set)."""

    project: str | None = None
    number: int | None = None
    id: str | None = None


def parse_issue_ref(ref: str) -> IssueRef:
    """Read a path reference, or answer 422 `invalid_key` if it is neither a key nor an id."""
    if _ISSUE_ID.fullmatch(ref):
        return IssueRef(id=ref)
    found = _ISSUE_KEY.fullmatch(ref)
    if found:
        number = int(found.group(2))
        if number > MAX_ISSUE_NUMBER:
            raise ApiError(404, "issue_not_found", "no such issue")
        return IssueRef(project=found.group(1), number=number)
    raise ApiError(422, "invalid_key", "an issue is named by a key like OPS-12 or by its id")


def parse_project_key(key: str) -> str:
    """Check a project key from a path, or answer 422 `invalid_key`."""
    if not _PROJECT_KEY.fullmatch(key):
        raise ApiError(422, "invalid_key", "a project key is 2-10 capitals and digits, like OPS")
    return key
