"""The document format's gate: every body saved is checked here against the format's schema.

The schema (`document.schema.json`, described in docs/document-format.md) says what a document
is; this module adds the limits a schema cannot say cheaply (nesting depth, node count, size),
checked first and without recursion, so a hostile document cannot make validation itself slow
or deep. A refusal names the JSON path of the first error and a reason code a program can use.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tenantry.platform.errors import ApiError
from tenantry.platform.text import BIDI_CONTROLS, text_problem

SCHEMA_PATH = Path(__file__).with_name("document.schema.json")
MAX_DEPTH = 32
MAX_NODES = 50_000
MAX_BYTES = 512 * 1024

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
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate_document(document: Any, where: str = "$.body") -> dict[str, Any]:
    """`document` if it is a valid document within the limits, else DocumentRejected."""
    _check_limits(document, where)
    error = _first_error(document)
    if error is not None:
        raise DocumentRejected(_path(where, error), _reason(error), error.message[:200])
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
            stack.extend((v, depth + 1, f"{path}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, str) and _SUSPECT.search(value):
            problem = text_problem(value, multi_line=True)
            if problem is not None:
                raise DocumentRejected(path, "bad_character", problem)
    if len(orjson.dumps(document)) > MAX_BYTES:
        raise DocumentRejected(where, "too_large", f"larger than {MAX_BYTES} bytes as JSON")


def _first_error(document: Any) -> ValidationError | None:
    """The error of the first failing node, in document order.

    Node kinds are chosen by `if`/`then` on `type`, so an error inside a node is reported at
    that node's own keyword rather than as a vague "matches none of" at its parent; errors in
    `then` branches are unwrapped to the deepest one.
    """
    errors = sorted(_validator().iter_errors(document), key=_order)
    if not errors:
        return None
    error = errors[0]
    while error.context:
        error = sorted(error.context, key=_order)[0]
    return error


def _order(error: ValidationError) -> list[tuple[int, str]]:
    """Document order of an error's place: list indexes as numbers, keys after them."""
    return [(part, "") if isinstance(part, int) else (-1, str(part)) for part in error.path]


def _path(where: str, error: ValidationError) -> str:
    path = where
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else ""
        return f"{path}.{missing}" if missing else path
    if error.validator == "additionalProperties":
        extra = str(error.message).split("'")[1] if "'" in error.message else ""
        return f"{path}.{extra}" if extra else path
    return path


def _reason(error: ValidationError) -> str:
    if error.validator == "pattern" and list(error.absolute_path)[-1:] == ["href"]:
        return "unsafe_link"
    return _REASONS.get(str(error.validator), "invalid")
