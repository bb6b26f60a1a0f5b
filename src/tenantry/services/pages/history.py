"""The difference of two versions of a page, as readers compare them: line by line of text."""

from __future__ import annotations

import difflib
from typing import Any

from tenantry.services.pages.records import StoredVersion
from tenantry.services.pages.render import to_text


def diff(older: StoredVersion, newer: StoredVersion) -> dict[str, Any]:
    """What changed from `older` to `newer`: both titles, and a unified diff of their text."""
    lines = difflib.unified_diff(
        to_text(older.body).splitlines(),
        to_text(newer.body).splitlines(),
        fromfile=f"version {older.version}",
        tofile=f"version {newer.version}",
        lineterm="",
    )
    return {
        "from": older.version,
        "to": newer.version,
        "title": {"from": older.title, "to": newer.title},
        "diff": list(lines),
    }
