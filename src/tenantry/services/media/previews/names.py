"""Refuse upload names that try to be paths; names are labels and are never used as paths.

A name with a directory part, a `..`, a NUL or another control character, or more than 255 UTF-8
bytes is refused with `invalid_name`, so such a name cannot reach a log, a header or a later tool
that might treat it as a path.
"""

from __future__ import annotations

import unicodedata

from .errors import INVALID_NAME, PreviewFailed

_MAX_NAME_BYTES = 255


def check_file_name(name: str) -> None:
    """Raise PreviewFailed(`invalid_name`) unless `name` is a plain file name."""
    problem = _problem(name)
    if problem is not None:
        raise PreviewFailed(INVALID_NAME, problem)


def _problem(name: str) -> str | None:
    if not name.strip():
        return "the name is empty"
    if len(name.encode("utf-8", errors="surrogatepass")) > _MAX_NAME_BYTES:
        return f"the name is longer than {_MAX_NAME_BYTES} bytes"
    if "/" in name or "\\" in name:
        return "the name contains a path separator"
    if set(name) <= {"."}:
        return "the name is a relative path part"
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in name):
        return "the name contains a control character"
    return None
