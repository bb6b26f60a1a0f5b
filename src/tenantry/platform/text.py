"""What text every API accepts: no control or bidirectional formatting characters in a field.

A name, a summary or a title is shown on one line, in browsers, terminals and logs; a control
character there (NUL, an ANSI escape, a carriage return) or a bidirectional override (U+202E)
can hide or reorder what a reader sees, and NUL cannot be stored in PostgreSQL text at all.
`OneLineText` refuses all of them; `MultiLineText` (descriptions, comments) also allows tabs
and line breaks (LF, or CR LF). Each service's schemas build their fields on these two types,
so one rule holds everywhere and a refusal is a 422 naming the character and where it is.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

BIDI_CONTROLS = frozenset(
    "\u061c"  # arabic letter mark
    "\u200e\u200f"  # left-to-right and right-to-left marks
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings, pop, overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
"""The invisible characters that change the order in which text is displayed."""
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs"})
"""Control characters (C0, DEL, C1) and lone surrogates (which no encoding can store)."""
_LINE_BREAKS = frozenset("\n\r\u2028\u2029")
_MULTI_LINE_ALLOWED = frozenset("\t\n\u2028\u2029")


def text_problem(value: str, *, multi_line: bool) -> str | None:
    """Why `value` is not acceptable text (one line, or several), or None when it is."""
    for position, char in enumerate(value):
        if char in BIDI_CONTROLS:
            return _named("a bidirectional control character", char, position)
        if multi_line and (char in _MULTI_LINE_ALLOWED or _crlf_at(value, position)):
            continue
        if char in _LINE_BREAKS and not multi_line:
            return _named("a line break", char, position)
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return _named("a control character", char, position)
    return None


def _crlf_at(value: str, position: int) -> bool:
    """A carriage return is allowed only as the start of a CR LF line break."""
    return value[position] == "\r" and value[position + 1 : position + 2] == "\n"


def _named(what: str, char: str, position: int) -> str:
    return f"must not contain {what} (U+{ord(char):04X} at position {position})"


def _one_line(value: str) -> str:
    problem = text_problem(value, multi_line=False)
    if problem is not None:
        raise PydanticCustomError("one_line_text", problem)
    return value


def _multi_line(value: str) -> str:
    problem = text_problem(value, multi_line=True)
    if problem is not None:
        raise PydanticCustomError("multi_line_text", problem)
    return value


OneLineText = Annotated[str, AfterValidator(_one_line)]
"""Text shown on one line (names, summaries, titles): no control, bidi or line-break characters."""
MultiLineText = Annotated[str, AfterValidator(_multi_line)]
"""Text of several lines (descriptions, comments): tabs and line breaks allowed, nothing else."""
