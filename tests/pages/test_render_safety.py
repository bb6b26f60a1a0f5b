"""Whatever document the renderer is given, its HTML holds only allowlisted elements and
attributes, no event handler, and no link a browser could run or load as data."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantry.services.pages.render import ALLOWED, SAFE_SCHEMES, to_html, to_text

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " \x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "&#106;avascript:alert(1)",
    "' onmouseover='alert(1)",
    "</p><iframe src=//evil>",
    "<!--",
    "]]><style>",
    "https://example.com/ok",
    "/relative",
    "#anchor",
    "mailto:a@b.c",
]
NODE_TYPES = [
    "doc",
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "taskList",
    "taskItem",
    "blockquote",
    "codeBlock",
    "table",
    "tableRow",
    "tableCell",
    "tableHeader",
    "rule",
    "panel",
    "media",
    "text",
    "mention",
    "emoji",
    "date",
    "hardBreak",
    "script",
    "iframe",
    "img",
    "a",
]
ATTR_NAMES = [
    "href",
    "level",
    "order",
    "checked",
    "language",
    "colspan",
    "rowspan",
    "panelType",
    "id",
    "alt",
    "text",
    "shortName",
    "timestamp",
    "title",
    "onclick",
    "style",
    "src",
]

strings = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30))
scalars = st.one_of(strings, st.integers(-5, 2_000_000), st.booleans(), st.none())
attrs = st.dictionaries(st.sampled_from(ATTR_NAMES), scalars, max_size=4)
marks = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["strong", "em", "code", "strike", "link", "onclick", "script"])},
        optional={"attrs": attrs},
    ),
    max_size=4,
)
leaves = st.fixed_dictionaries(
    {"type": st.sampled_from(NODE_TYPES)},
    optional={"text": strings, "attrs": attrs, "marks": marks},
)
nodes = st.recursive(
    leaves,
    lambda children: st.fixed_dictionaries(
        {"type": st.sampled_from(NODE_TYPES), "content": st.lists(children, max_size=4)},
        optional={"attrs": attrs, "text": strings, "marks": marks},
    ),
    max_leaves=40,
)
documents = st.fixed_dictionaries({"type": st.just("doc"), "content": st.lists(nodes, max_size=5)})


class _Checker(HTMLParser):
    """Collects every way the parsed output strays from the allowlist."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.problems.append(f"element {tag}")
            return
        for name, value in attributes:
            if name not in ALLOWED[tag] or name.startswith("on"):
                self.problems.append(f"attribute {name} on {tag}")
            if name == "href" and not _navigates_only(value or ""):
                self.problems.append(f"link {value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag not in ALLOWED:
            self.problems.append(f"end of {tag}")

    def handle_comment(self, data: str) -> None:
        self.problems.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.problems.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.problems.append("processing instruction")

    def unknown_decl(self, data: str) -> None:
        self.problems.append("declaration")


def _navigates_only(href: str) -> bool:
    cleaned = "".join(c for c in href if ord(c) > 0x20 and ord(c) != 0x7F)
    if cleaned.startswith(("/", "#")):
        return True
    scheme, colon, _ = cleaned.partition(":")
    return bool(colon) and scheme.lower() in SAFE_SCHEMES


def _problems(html: str) -> list[str]:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.problems


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents_render_only_allowed_html(document: dict[str, Any]) -> None:
    html = to_html(document)
    assert _problems(html) == []
    assert "<script" not in html.lower()
    to_text(document)  # never raises either


@settings(max_examples=200, deadline=None)
@given(st.one_of(scalars, st.lists(scalars), st.dictionaries(st.text(max_size=5), scalars)))
def test_anything_that_is_not_a_document_renders_as_nothing_harmful(value: Any) -> None:
    assert _problems(to_html(value)) == []


def test_every_hostile_link_loses_its_anchor_and_keeps_its_text() -> None:
    for href in HOSTILE:
        node = {
            "type": "text",
            "text": "click",
            "marks": [{"type": "link", "attrs": {"href": href}}],
        }
        html = to_html({"type": "doc", "content": [{"type": "paragraph", "content": [node]}]})
        assert "click" in html
        assert ("<a " in html) == _navigates_only(href), (href, html)


def test_text_is_escaped_and_safe_links_are_kept() -> None:
    document = {
        "type": "doc",
        "content": [
            {
                "type": "heading",
                "attrs": {"level": 2},
                "content": [{"type": "text", "text": "<b>"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": "docs",
                        "marks": [{"type": "link", "attrs": {"href": 'https://x.test/?a="1"'}}],
                    }
                ],
            },
        ],
    }
    html = to_html(document)
    assert "<h2>&lt;b&gt;</h2>" in html
    assert '<a href="https://x.test/?a=&quot;1&quot;" rel="nofollow noopener noreferrer">' in html
    assert to_text(document) == "<b>\ndocs"


@pytest.mark.parametrize("level", [True, False, 0, 7, "2", 2.0, None])
def test_a_heading_level_that_is_not_1_to_6_renders_as_h1(level: object) -> None:
    document = {"type": "doc", "content": [{"type": "heading", "attrs": {"level": level}}]}
    html = to_html(document)
    assert html.startswith("<h1>") and _problems(html) == [], html
