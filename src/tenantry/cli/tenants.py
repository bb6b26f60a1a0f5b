"""`tenantry tenant list` and `tenant info SITE`: what the catalog (tcs) knows of each site.

Both ask tcs as the operator and show, for each site, its cloud id, home region, shard, status,
whether its key works, when it was deleted (if it is), and when it was created; `--json` prints
the same as JSON (a list of objects, or one object) for scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from tenantry.cli.operator_calls import run_as_operator
from tenantry.cli.site_calls import OperatorCallFailed, answer
from tenantry.cli.tables import print_whole
from tenantry.platform.client import ServiceClient

FIELDS = (
    "site",
    "cloud_id",
    "region",
    "shard",
    "status",
    "key_available",
    "deleted_at",
    "created_at",
)
"""What the commands show of a site, in this order (the JSON keys too)."""
PAGE = 500


async def _all_sites(client: ServiceClient) -> list[dict[str, Any]]:
    """Every site of the catalog, in site order, page by page."""
    sites: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        page = answer(
            await client.call("tcs", "GET", "/internal/tcs/tenants", query=query), "listing sites"
        )
        sites.extend(page["tenants"])
        cursor = page.get("next_cursor")
        if not cursor:
            return sites


async def _one_site(client: ServiceClient, site: str) -> dict[str, Any]:
    found = await client.call("tcs", "GET", "/internal/tcs/tenants/{site}", params={"site": site})
    if found.status == 404:
        raise OperatorCallFailed(f"unknown_site: there is no site {site!r}")
    return answer(found, "site lookup")


def list_sites(data_dir: Path) -> list[dict[str, Any]]:
    """Every site of the cloud of `data_dir`, as tcs has it."""
    return [_shown(site) for site in run_as_operator(data_dir, _all_sites)]


def site_info(data_dir: Path, site: str) -> dict[str, Any]:
    """One site of the cloud of `data_dir`; `OperatorCallFailed` for an unknown one."""
    return _shown(run_as_operator(data_dir, lambda client: _one_site(client, site)))


def json_document(document: object) -> str:
    """One JSON document on one line, for scripts."""
    return orjson.dumps(document).decode()


def print_sites(out: Console, sites: list[dict[str, Any]]) -> None:
    """The sites as a table, whatever the terminal's width."""
    table = Table(title="Sites", title_justify="left")
    for column in ("site", "cloud id", "region", "shard", "status", "key", "deleted", "created"):
        table.add_column(column)
    for site in sites:
        key = "ok" if site["key_available"] else "unavailable"
        table.add_row(
            site["site"],
            site["cloud_id"],
            site["region"],
            site["shard"],
            site["status"],
            key,
            site["deleted_at"] or "",
            site["created_at"],
        )
    print_whole(out, table)


def _shown(site: dict[str, Any]) -> dict[str, Any]:
    return {name: site.get(name) for name in FIELDS}
