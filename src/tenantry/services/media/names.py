"""Display names of uploaded files: shown to people, never used to find or store anything.

A client's file name can be a path (`../../etc/passwd`, `C:\\x\\y.doc`), hold control
characters or right-to-left overrides, or be huge. What is kept is the last path segment,
normalised, without control or formatting characters, trimmed to a sane length.
"""

from __future__ import annotations

import unicodedata

from tenantry.services.media.models import NAME_LENGTH

FALLBACK = "file"


def display_name(raw: str | None) -> str:
    """A safe display name for what a client called its file."""
    if not raw:
        return FALLBACK
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    # Cc: control characters; Cf: invisible formatting (bidi overrides, zero-width joiners).
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = name.strip().lstrip(".").strip()
    if not name:
        return FALLBACK
    return name[:NAME_LENGTH]
