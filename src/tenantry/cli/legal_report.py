"""The annual transparency report, built from the register's requests of one year.

Per jurisdiction group (the EU and its member states are one group; any other jurisdiction
is its own), the report counts the requests received that year, the accounts they named, and
how they ended: content disclosed, non-content data only, no data, objected to (an objection
still standing), or still pending. National-security requests never enter those exact counts:
they are reported apart, in bands of `BAND` (0-249, 250-499, ...), as published reports give
them, and per group only for groups the table lists anyway (a group that only national-security
requests would show is counted in the total alone, so its row cannot reveal them).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

BAND = 250
"""The width of the bands national-security counts are reported in."""
EU = "EU"
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
OUTCOMES = ("content", "non_content", "no_data", "objected", "pending")
COLUMNS = ("requests", "accounts", *OUTCOMES)
HEADINGS = {
    "jurisdiction": "Jurisdiction",
    "requests": "Requests",
    "accounts": "Accounts named",
    "content": "Content disclosed",
    "non_content": "Non-content only",
    "no_data": "No data disclosed",
    "objected": "Objected to",
    "pending": "Pending",
}
TOTAL = "Total"


def jurisdiction_group(jurisdiction: str) -> str:
    """The group a jurisdiction is reported under."""
    return EU if jurisdiction == EU or jurisdiction in EU_MEMBERS else jurisdiction


def band(count: int) -> str:
    """A count as its band, e.g. 0-249."""
    low = count // BAND * BAND
    return f"{low}-{low + BAND - 1}"


def outcome(request: Mapping[str, Any]) -> str:
    """How a request ended (or that it has not)."""
    state = request["state"]
    if state == "disclosed":
        return "content" if request["disclosure"] == "content" else "non_content"
    if state == "no-data":
        return "no_data"
    if state == "objected":
        return "objected"
    return "pending"


def _empty() -> dict[str, int]:
    return dict.fromkeys(COLUMNS, 0)


def _add(row: dict[str, int], request: Mapping[str, Any]) -> None:
    row["requests"] += 1
    row["accounts"] += len(request["accounts"])
    row[outcome(request)] += 1


def build_report(year: int, requests: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report of `year` from the register's requests (those of other years are left out)."""
    groups: dict[str, dict[str, int]] = {}
    secret: dict[str, dict[str, int]] = {}
    total = _empty()
    secret_total = {"requests": 0, "accounts": 0}
    for request in requests:
        if not str(request["received"]).startswith(f"{year:04d}-"):
            continue
        group = jurisdiction_group(str(request["jurisdiction"]))
        if request["type"] == "national-security":
            counts = secret.setdefault(group, {"requests": 0, "accounts": 0})
            for counted in (counts, secret_total):
                counted["requests"] += 1
                counted["accounts"] += len(request["accounts"])
            continue
        _add(groups.setdefault(group, _empty()), request)
        _add(total, request)
    rows = [{"jurisdiction": name, **groups[name]} for name in sorted(groups)]
    banded = [
        {
            "jurisdiction": name,
            "requests": band(secret.get(name, {}).get("requests", 0)),
            "accounts": band(secret.get(name, {}).get("accounts", 0)),
        }
        for name in sorted(groups)
    ]
    return {
        "year": year,
        "requests": {"rows": rows, "total": {"jurisdiction": TOTAL, **total}},
        "national_security": {
            "band": BAND,
            "rows": banded,
            "total": {
                "jurisdiction": TOTAL,
                "requests": band(secret_total["requests"]),
                "accounts": band(secret_total["accounts"]),
            },
        },
    }


def as_json(report: Mapping[str, Any]) -> str:
    """The report as JSON (keys in a fixed order)."""
    return json.dumps(report, indent=2) + "\n"


def _table(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    lines = [
        "| " + " | ".join(HEADINGS[key] for key in keys) + " |",
        "|" + "|".join([":---", *["---:"] * (len(keys) - 1)]) + "|",
    ]
    for row in rows:
        cells = [str(row[key]) for key in keys]
        if row["jurisdiction"] == TOTAL:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def as_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: the requests table, then the banded national-security one."""
    requests = report["requests"]
    secret = report["national_security"]
    lines = [
        f"# Transparency report {report['year']}",
        "",
        f"Government and legal requests for customer data received in {report['year']}, "
        "by jurisdiction.",
        "",
        *_table([*requests["rows"], requests["total"]], ("jurisdiction", *COLUMNS)),
        "",
        "## National security requests",
        "",
        f"Reported in bands of {secret['band']}.",
        "",
        *_table([*secret["rows"], secret["total"]], ("jurisdiction", "requests", "accounts")),
    ]
    return "\n".join(lines) + "\n"


def _html_table(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    lines = [
        "<table>",
        "<tr>" + "".join(f"<th>{html.escape(HEADINGS[key])}</th>" for key in keys) + "</tr>",
    ]
    for row in rows:
        tag = "th" if row["jurisdiction"] == TOTAL else "td"
        cells = "".join(f"<{tag}>{html.escape(str(row[key]))}</{tag}>" for key in keys)
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</table>")
    return lines


def as_html(report: Mapping[str, Any]) -> str:
    """The report as a standalone HTML page."""
    requests = report["requests"]
    secret = report["national_security"]
    title = f"Transparency report {report['year']}"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{html.escape(title)}</title></head>',
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Government and legal requests for customer data received in {report['year']}, "
        "by jurisdiction.</p>",
        *_html_table([*requests["rows"], requests["total"]], ("jurisdiction", *COLUMNS)),
        "<h2>National security requests</h2>",
        f"<p>Reported in bands of {secret['band']}.</p>",
        *_html_table([*secret["rows"], secret["total"]], ("jurisdiction", "requests", "accounts")),
        "</body>",
        "</html>",
    ]
    return "\n".join(lines) + "\n"
