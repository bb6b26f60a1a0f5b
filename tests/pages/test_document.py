"""The document gate: good documents pass as they are; a bad one is refused at the JSON path of
its first error, with a reason code, and hostile sizes are refused before any deep work."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.services.pages.document import (
    MAX_BYTES,
    MAX_DEPTH,
    DocumentRejected,
    validate_document,
)


def _para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


EVERY_NODE: dict[str, Any] = {
    "type": "doc",
    "content": [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "Title"}]},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "bold", "marks": [{"type": "strong"}, {"type": "em"}]},
                {"type": "text", "text": "x", "marks": [{"type": "code"}, {"type": "strike"}]},
                {
                    "type": "text",
                    "text": "link",
                    "marks": [{"type": "link", "attrs": {"href": "https://example.com/a?b=c"}}],
                },
                {"type": "mention", "attrs": {"id": "acc-1", "text": "@Ada"}},
                {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "\U0001f604"}},
                {"type": "date", "attrs": {"timestamp": "2026-12-04"}},
                {"type": "hardBreak"},
            ],
        },
        {"type": "bulletList", "content": [{"type": "listItem", "content": [_para("one")]}]},
        {
            "type": "orderedList",
            "attrs": {"order": 3},
            "content": [{"type": "listItem", "content": [_para("three")]}],
        },
        {
            "type": "taskList",
            "content": [
                {
                    "type": "taskItem",
                    "attrs": {"checked": True},
                    "content": [{"type": "text", "text": "done"}],
                }
            ],
        },
        {"type": "blockquote", "content": [_para("quoted")]},
        {
            "type": "codeBlock",
            "attrs": {"language": "python"},
            "content": [{"type": "text", "text": "print(1)\n"}],
        },
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [_para("h")]},
                        {"type": "tableCell", "attrs": {"colspan": 2}, "content": [_para("c")]},
                    ],
                }
            ],
        },
        {"type": "rule"},
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [_para("careful")]},
        {"type": "media", "attrs": {"id": "f0a1", "alt": "a diagram"}},
    ],
}


def _rejected(document: Any) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        validate_document(document)
    assert caught.value.status == 422
    return caught.value


def test_the_smallest_document_and_every_node_kind_pass() -> None:
    smallest = {"type": "doc", "content": [_para("Hello")]}
    assert validate_document(smallest) is smallest
    assert validate_document(EVERY_NODE) is EVERY_NODE


def test_the_first_error_in_document_order_is_named() -> None:
    content: list[Any] = [_para(str(n)) for n in range(12)]
    content[2] = {"type": "heading", "attrs": {"level": 0}}
    content[10] = {"type": "nope"}
    refused = _rejected({"type": "doc", "content": content})
    assert (refused.path, refused.reason) == ("$.body.content[2].attrs.level", "out_of_range")
    assert refused.body()["path"] == refused.path


@pytest.mark.parametrize(
    "href", ["javascript:alert(1)", "data:text/html,x", "vbscript:x", " https://x", "ftp://x"]
)
def test_links_must_navigate(href: str) -> None:
    link = {"type": "link", "attrs": {"href": href}}
    node = {"type": "text", "text": "x", "marks": [link]}
    refused = _rejected({"type": "doc", "content": [{"type": "paragraph", "content": [node]}]})
    assert refused.reason == "unsafe_link"


def test_a_mark_other_than_link_takes_no_attrs() -> None:
    node = {"type": "text", "text": "x", "marks": [{"type": "strong", "attrs": {"style": "x"}}]}
    refused = _rejected({"type": "doc", "content": [{"type": "paragraph", "content": [node]}]})
    assert refused.reason == "unknown_field"


def test_too_deep_too_large_and_bad_characters() -> None:
    deep: Any = _para("x")
    for _ in range(MAX_DEPTH):
        deep = {"type": "blockquote", "content": [deep]}
    assert _rejected({"type": "doc", "content": [deep]}).reason == "too_deep"
    big = {"type": "doc", "content": [_para("x" * 1000) for _ in range(MAX_BYTES // 1000)]}
    assert _rejected(big).reason == "too_large"
    assert _rejected({"type": "doc", "content": [_para("a\x00b")]}).reason == "bad_character"


@pytest.mark.parametrize("number", [2**64, -(2**70), float("nan"), float("inf")])
def test_numbers_json_cannot_carry_are_refused(number: float) -> None:
    heading = {"type": "heading", "attrs": {"level": number}}
    refused = _rejected({"type": "doc", "content": [heading]})
    assert refused.path == "$.body.content[0].attrs.level"


def test_the_first_bad_character_in_document_order_is_named() -> None:
    content = [_para("fine"), _para("a\x01b"), _para("c\x02d")]
    refused = _rejected({"type": "doc", "content": content})
    assert refused.path == "$.body.content[1].content[0].text"
