"""The document format's gate: every body saved is checked here against the format's schema.

The schema (`document.schema.json`, described in docs/document-format.md) says what a document
is; this module adds the limits a schema cannot say cheaply (nesting depth, node count, size),
checked first and without recursion, so a hostile document cannot make validation itself slow
or deep. A refusal names the JSON path of the first error and a reason code a program can use.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
from jsonschema_rs import ValidationError, ValidationErrorKind

from tenantry.platform.errors import ApiError
from tenantry.platform.text import BIDI_CONTROLS, text_problem

SCHEMA_PATH = Path(__file__).with_name("document.schema.json")
MAX_DEPTH = 32
MAX_NODES = 50_000
MAX_BYTES = 512 * 1024
MAX_INTEGER = 2**53  # what every JSON reader holds exactly

# jsonschema's keyword that failed, as the reason code a client sees.
# Characters that may make a string unacceptable text; only strings holding one are checked
# character by character (a 100 KB body is mostly plain letters).
_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff" + "".join(BIDI_CONTROLS) + "]")

_REASONS = {
    "type": "wrong_type",
    "required": "missing_field",
    "additionalProperties": "unknown_field",
    "enum": "unknown_type",
    "const": "unexpected_value",
    "pattern": "bad_format",
    "minLength": "empty_text",
    "maxLength": "too_long",
    "minItems": "empty_content",
    "maxItems": "too_many",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
}


class DocumentRejected(ApiError):
    """A 422 for a body that is not a document: `path` (JSON path) and `reason` say what."""

    def __init__(self, path: str, reason: str, message: str) -> None:
        super().__init__(422, "invalid_document", f"{path}: {message}")
        self.path = path
        self.reason = reason

    def body(self) -> dict[str, str]:
        return {**super().body(), "path": self.path, "reason": self.reason}


@cache
def _validator() -> jsonschema_rs.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=False)


def validate_document(document: Any, where: str = "$.body") -> dict[str, Any]:
    """`document` if it is a valid document within the limits, else DocumentRejected."""
    _check_limits(document, where)
    error = _first_error(document, where)
    if error is not None:
        raise error
    assert isinstance(document, dict)
    return document


def _check_limits(document: Any, where: str) -> None:
    """Depth and node count by an explicit stack, then the encoded size."""
    stack: list[tuple[Any, int, str]] = [(document, 0, where)]
    nodes = 0
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentRejected(path, "too_deep", f"nested deeper than {MAX_DEPTH} levels")
        nodes += 1
        if nodes > MAX_NODES:
            raise DocumentRejected(path, "too_many_nodes", f"more than {MAX_NODES} values")
        if isinstance(value, dict):
            # Reversed, so values come off the stack in document order (the first error first).
            stack.extend(reversed([(v, depth + 1, f"{path}.{k}") for k, v in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]))
        elif isinstance(value, float) and not math.isfinite(value):
            raise DocumentRejected(path, "wrong_type", "not a finite number")
        elif isinstance(value, int) and abs(value) > MAX_INTEGER:
            raise DocumentRejected(path, "out_of_range", f"beyond ±{MAX_INTEGER}")
        elif isinstance(value, str) and _SUSPECT.search(value):
            problem = text_problem(value, multi_line=True)
            if problem is not None:
                raise DocumentRejected(path, "bad_character", problem)
    if len(orjson.dumps(document)) > MAX_BYTES:
        raise DocumentRejected(where, "too_large", f"larger than {MAX_BYTES} bytes as JSON")


def _first_error(document: Any, where: str) -> DocumentRejected | None:
    """The refusal of the first failing place, in document order.

    Node kinds are chosen by `if`/`then` on `type`, so an error inside a node is reported at
    that node's own keyword rather than as a vague "matches none of" at its parent.
    """
    validator = _validator()
    try:
        if validator.is_valid(document):
            return None
        errors = sorted(validator.iter_errors(document), key=_order)
    except (OverflowError, ValueError) as exc:  # a number or value JSON Schema cannot hold
        return DocumentRejected(where, "invalid", str(exc)[:200])
    error = errors[0]
    kind = error.kind
    path = where + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path
    )
    if isinstance(kind, ValidationErrorKind.Required):
        path = f"{path}.{kind.property}"
    elif isinstance(kind, ValidationErrorKind.AdditionalProperties) and kind.unexpected:
        path = f"{path}.{kind.unexpected[0]}"
    return DocumentRejected(path, _reason(error), error.message[:200])


def _order(error: ValidationError) -> list[tuple[int, str]]:
    """Document order of an error's place: list indexes as numbers, keys after them."""
    return [
        (part, "") if isinstance(part, int) else (-1, str(part)) for part in error.instance_path
    ]


def _reason(error: ValidationError) -> str:
    keyword = error.kind.name
    if keyword == "pattern" and list(error.instance_path)[-1:] == ["href"]:
        return "unsafe_link"
    return _REASONS.get(keyword, "invalid")
