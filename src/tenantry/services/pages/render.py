"""The server's renderer of documents: safe HTML for the page view, plain text for search.

Safety does not depend on the document having been validated: whatever the input, the output
holds only the elements and attributes of `ALLOWED` (a test parses random documents' output and
checks), every text and attribute value is escaped, a link survives only with an http(s),
mailto, relative or fragment target, and a node the renderer does not know renders as nothing
(its text still shows in plain text, never as markup).
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

ALLOWED: dict[str, frozenset[str]] = {
    **{tag: frozenset() for tag in ("p", "blockquote", "strong", "em", "s", "hr", "br", "tr")},
    **{f"h{level}": frozenset() for level in range(1, 7)},
    "ul": frozenset({"class"}),
    "ol": frozenset({"start"}),
    "li": frozenset({"class", "data-checked"}),
    "pre": frozenset({"data-language"}),
    "code": frozenset(),
    "table": frozenset(),
    "tbody": frozenset(),
    "th": frozenset({"colspan", "rowspan"}),
    "td": frozenset({"colspan", "rowspan"}),
    "div": frozenset({"class"}),
    "figure": frozenset({"class", "data-attachment", "data-alt"}),
    "a": frozenset({"href", "rel", "title"}),
    "span": frozenset({"class", "data-account", "data-emoji"}),
    "time": frozenset({"datetime"}),
}
"""Every element the renderer may write, with the attributes it may carry."""

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_DEPTH = 64
_PANEL_TYPES = frozenset({"info", "note", "warning", "success", "error"})
_MARK_TAGS = {"strong": "strong", "em": "em", "code": "code", "strike": "s"}
_MARK_ORDER = {"link": 0, "strong": 1, "em": 2, "strike": 3, "code": 4}
_LANGUAGE = re.compile(r"[A-Za-z0-9+#._-]{1,32}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Browsers drop these from a URL before reading its scheme ("java\tscript:" is javascript:).
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEEDS_WORK = re.compile(r"[&<>\"'\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NO_ATTRS: dict[str, Any] = {}
_SIMPLE_BLOCKS = {"paragraph": "p", "blockquote": "blockquote"}
_LINK_REL = "nofollow noopener noreferrer"


def to_html(document: Any) -> str:
    """The document as an HTML fragment, safe to put in a page whatever the document holds."""
    out: list[str] = []
    if isinstance(document, dict):
        _blocks(document.get("content"), out, 0)
    return "".join(out)


def to_text(document: Any) -> str:
    """The document's words as plain text, a line per block, for search and export."""
    lines: list[str] = []
    if isinstance(document, dict):
        _text_blocks(document.get("content"), lines, 0)
    return "\n".join(line for line in lines if line)


def safe_href(href: Any) -> str | None:
    """`href` if a browser following it could only navigate (no script, no data), else None."""
    if not isinstance(href, str) or not href or len(href) > 2048:
        return None
    cleaned = _URL_IGNORED.sub("", href)
    if cleaned.startswith(("/", "#")) and not cleaned.startswith("/\\"):
        return href.strip()
    scheme, colon, _ = cleaned.partition(":")
    if colon and scheme.lower() in SAFE_SCHEMES:
        return href.strip()
    return None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    if _NEEDS_WORK.search(value) is None:  # most text: nothing to escape or drop
        return value
    return escape(_CONTROL.sub("", value))


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _children(node: Any) -> list[Any]:
    content = node.get("content") if isinstance(node, dict) else None
    return content if isinstance(content, list) else []


def _blocks(content: Any, out: list[str], depth: int) -> None:
    if not isinstance(content, list) or depth > MAX_DEPTH:
        return
    for node in content:
        if isinstance(node, dict):
            _block(node, out, depth + 1)


def _block(node: dict[str, Any], out: list[str], depth: int) -> None:
    kind = node.get("type")
    attrs = _attrs(node) if "attrs" in node else _NO_ATTRS
    if kind in _SIMPLE_BLOCKS:
        tag = _SIMPLE_BLOCKS[kind]
        out.append(f"<{tag}>")
        if kind == "paragraph":
            _inlines(node.get("content"), out)
        else:
            _blocks(node.get("content"), out, depth)
        out.append(f"</{tag}>")
    elif kind == "heading":
        level = attrs.get("level")
        # `True` is an int in Python but not a level: f"h{True}" would be an element "hTrue".
        wellformed = isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 6
        tag = f"h{level}" if wellformed else "h1"
        out.append(f"<{tag}>")
        _inlines(node.get("content"), out)
        out.append(f"</{tag}>")
    elif kind in ("bulletList", "orderedList"):
        _list(node, attrs, out, depth)
    elif kind == "taskList":
        out.append('<ul class="task-list">')
        for item in _children(node):
            if isinstance(item, dict) and item.get("type") == "taskItem":
                checked = "true" if _attrs(item).get("checked") is True else "false"
                out.append(f'<li class="task" data-checked="{checked}">')
                _inlines(item.get("content"), out)
                out.append("</li>")
        out.append("</ul>")
    elif kind == "codeBlock":
        language = attrs.get("language")
        if isinstance(language, str) and _LANGUAGE.fullmatch(language):
            out.append(f'<pre data-language="{escape(language)}"><code>')
        else:
            out.append("<pre><code>")
        out.extend(_text(t.get("text")) for t in _children(node) if isinstance(t, dict))
        out.append("</code></pre>")
    elif kind == "table":
        _table(node, out, depth)
    elif kind == "rule":
        out.append("<hr>")
    elif kind == "panel":
        panel = attrs.get("panelType")
        panel = panel if panel in _PANEL_TYPES else "info"
        out.append(f'<div class="panel panel-{panel}">')
        _blocks(node.get("content"), out, depth)
        out.append("</div>")
    elif kind == "media":
        _media(attrs, out)


def _list(node: dict[str, Any], attrs: dict[str, Any], out: list[str], depth: int) -> None:
    if node.get("type") == "orderedList":
        order = attrs.get("order")
        start = order if isinstance(order, int) and not isinstance(order, bool) else 1
        out.append("<ol>" if start == 1 else f'<ol start="{max(1, min(start, 1_000_000))}">')
        tag = "ol"
    else:
        out.append("<ul>")
        tag = "ul"
    for item in _children(node):
        if isinstance(item, dict) and item.get("type") == "listItem":
            out.append("<li>")
            _blocks(item.get("content"), out, depth + 1)
            out.append("</li>")
    out.append(f"</{tag}>")


def _table(node: dict[str, Any], out: list[str], depth: int) -> None:
    out.append("<table><tbody>")
    for row in _children(node):
        if not isinstance(row, dict) or row.get("type") != "tableRow":
            continue
        out.append("<tr>")
        for cell in _children(row):
            if not isinstance(cell, dict) or cell.get("type") not in ("tableCell", "tableHeader"):
                continue
            tag = "th" if cell.get("type") == "tableHeader" else "td"
            spans = _spans(cell["attrs"]) if "attrs" in cell else ""
            out.append(f"<{tag}{spans}>")
            _blocks(cell.get("content"), out, depth + 1)
            out.append(f"</{tag}>")
        out.append("</tr>")
    out.append("</tbody></table>")


def _spans(attrs: Any) -> str:
    if not isinstance(attrs, dict):
        return ""
    return "".join(
        f' {name}="{value}"'
        for name in ("colspan", "rowspan")
        if isinstance(value := attrs.get(name), int)
        and not isinstance(value, bool)
        and 1 < value <= 1000
    )


def _media(attrs: dict[str, Any], out: list[str]) -> None:
    """A placeholder the web app fills with the attachment's preview (never the original)."""
    attachment = attrs.get("id")
    if not isinstance(attachment, str) or not _IDENTIFIER.fullmatch(attachment):
        return
    alt = attrs.get("alt")
    alt_attr = f' data-alt="{_text(alt)}"' if isinstance(alt, str) and alt else ""
    out.append(f'<figure class="media" data-attachment="{attachment}"{alt_attr}></figure>')


def _inlines(content: Any, out: list[str]) -> None:
    if not isinstance(content, list):
        return
    for node in content:
        if isinstance(node, dict):
            _inline(node, out)


def _inline(node: dict[str, Any], out: list[str]) -> None:
    kind = node.get("type")
    if kind == "text":
        _marked_text(node, out)
        return
    attrs = _attrs(node)
    if kind == "mention":
        account = attrs.get("id")
        if isinstance(account, str) and _IDENTIFIER.fullmatch(account):
            named = attrs.get("text")
            shown = _text(named) if isinstance(named, str) and named else f"@{account}"
            out.append(f'<span class="mention" data-account="{account}">{shown}</span>')
    elif kind == "emoji":
        short = attrs.get("shortName")
        if isinstance(short, str) and short:
            label = attrs.get("text")
            shown = label if isinstance(label, str) and label else short
            out.append(f'<span class="emoji" data-emoji="{_text(short)}">{_text(shown)}</span>')
    elif kind == "date":
        stamp = attrs.get("timestamp")
        if isinstance(stamp, str) and _DATE.fullmatch(stamp):
            out.append(f'<time datetime="{stamp}">{stamp}</time>')
    elif kind == "hardBreak":
        out.append("<br>")


def _marked_text(node: dict[str, Any], out: list[str]) -> None:
    text = _text(node.get("text"))
    if not text:
        return
    marks = node.get("marks")
    if not marks:
        out.append(text)
        return
    kinds: dict[str, dict[str, Any]] = {}
    if isinstance(marks, list):
        for mark in marks:
            if isinstance(mark, dict) and mark.get("type") in _MARK_ORDER:
                kinds.setdefault(mark["type"], mark)
    opening: list[str] = []
    closing: list[str] = []
    for kind in sorted(kinds, key=_MARK_ORDER.__getitem__):
        if kind == "link":
            link = _attrs(kinds[kind])
            href = safe_href(link.get("href"))
            if href is None:
                continue
            title = link.get("title")
            title_attr = f' title="{_text(title)}"' if isinstance(title, str) and title else ""
            opening.append(f'<a href="{escape(href)}" rel="{_LINK_REL}"{title_attr}>')
            closing.append("</a>")
        else:
            tag = _MARK_TAGS[kind]
            opening.append(f"<{tag}>")
            closing.append(f"</{tag}>")
    out.extend(opening)
    out.append(text)
    out.extend(reversed(closing))


def _text_blocks(content: Any, lines: list[str], depth: int) -> None:
    if not isinstance(content, list) or depth > MAX_DEPTH:
        return
    for node in content:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind in ("paragraph", "heading", "taskItem"):
            lines.append(_inline_text(node.get("content")))
        elif kind == "codeBlock":
            lines.append(
                "".join(str(t.get("text", "")) for t in _children(node) if isinstance(t, dict))
            )
        elif kind == "media":
            alt = _attrs(node).get("alt")
            lines.append(alt if isinstance(alt, str) else "")
        else:
            _text_blocks(node.get("content"), lines, depth + 1)


def _inline_text(content: Any) -> str:
    parts: list[str] = []
    if not isinstance(content, list):
        return ""
    for node in content:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        attrs = _attrs(node)
        if kind == "text" and isinstance(node.get("text"), str):
            parts.append(node["text"])
        elif kind == "mention":
            label = attrs.get("text")
            parts.append(label if isinstance(label, str) else f"@{attrs.get('id', '')}")
        elif kind == "emoji":
            shown = attrs.get("text", attrs.get("shortName", ""))
            parts.append(shown if isinstance(shown, str) else "")
        elif kind == "date" and isinstance(attrs.get("timestamp"), str):
            parts.append(attrs["timestamp"])
        elif kind == "hardBreak":
            parts.append("\n")
    return "".join(parts)
