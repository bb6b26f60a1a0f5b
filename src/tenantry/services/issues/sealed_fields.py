"""Project names and issue labels, sealed like summaries, and the label index beside them.

Revision 0004 could not seal the names and labels already stored (migrations run before kms is
up), so it marked each one `UNSEALED` (a zero byte, then the old UTF-8 text). Reads accept a
marked value, writes always seal, and the issues reseal route (which `tenantry keys
rotate-data-key` drives) seals every marked value it meets; a marked value is never written.
Labels are found by a blind index (`issue_labels.label`), never by their text.
"""

from __future__ import annotations

import json

from tenantry.platform.blind_index import blind_index
from tenantry.platform.crypto import key_version
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.sealing import open_text, seal_text

UNSEALED = b"\x00"
LABEL_INDEX = b"issues.label"
PROJECTS = "projects"
ISSUES = "issues"


def is_unsealed(value: bytes) -> bool:
    """True for a value revision 0004 marked, not yet sealed."""
    return value[:1] == UNSEALED


def version_of(value: bytes) -> int:
    """The key version of a sealed value; 0 for a marked one (older than any key)."""
    return 0 if is_unsealed(value) else key_version(value)


def seal_name(keys: TenantKeys, project: str, name: str) -> bytes:
    """A project's name sealed for its row."""
    return seal_text(keys, PROJECTS, project, "name", name)


def open_name(keys: TenantKeys, project: str, value: bytes) -> str:
    """A project's name, opened (or read from its marked form)."""
    if is_unsealed(value):
        return value[1:].decode()
    return open_text(keys, PROJECTS, project, "name", value)


def seal_labels(keys: TenantKeys, issue_id: str, labels: list[str]) -> bytes:
    """An issue's ordered labels sealed, as one JSON list, for its row."""
    return seal_text(keys, ISSUES, issue_id, "labels", json.dumps(labels))


def open_labels(keys: TenantKeys, issue_id: str, value: bytes) -> list[str]:
    """An issue's labels, opened (or read from their marked form)."""
    text = (
        value[1:].decode()
        if is_unsealed(value)
        else open_text(keys, ISSUES, issue_id, "labels", value)
    )
    labels = json.loads(text)
    return [str(label) for label in labels]


def label_index(keys: TenantKeys, label: str) -> str:
    """The blind index a label is stored and found by (64 hex digits, longer than any label,
    so it never equals a label's text left by revision 0004 before a reseal)."""
    return blind_index(keys, LABEL_INDEX, label)
