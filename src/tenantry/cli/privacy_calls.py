"""What `tenantry privacy` asks of a running cloud: a site's export, fetched whole, an erasure
with its receipt, and the replay of a site's erasure ledger that every restore runs, through the
site's privacy service as the operator."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tenantry.cli.site_calls import OperatorCallFailed, answer, site_context
from tenantry.platform.client import ServiceClient

EXPORT_WAIT_SECONDS = 120.0
POLL_SECONDS = 0.2


async def export_account(client: ServiceClient, site: str, account_id: str) -> tuple[str, bytes]:
    """Export `account_id` of `site` and wait for it; the export's id and its zip."""
    tenant = await site_context(client, site)
    started = await client.call(
        "privacy",
        "POST",
        "/internal/privacy/exports",
        json={"account_id": account_id},
        **tenant.call_args(),
    )
    if started.status != 202:
        answer(started, "export")
    export_id = str(started.json()["id"])
    deadline = time.monotonic() + EXPORT_WAIT_SECONDS
    while True:
        state = answer(
            await client.call(
                "privacy",
                "GET",
                "/internal/privacy/exports/{export_id}",
                params={"export_id": export_id},
                **tenant.call_args(),
            ),
            "export",
        )
        if state["status"] == "failed":
            raise OperatorCallFailed(f"export: {state.get('reason')}: the export failed")
        if state["status"] == "done":
            return export_id, await _download(client, tenant.call_args(), str(state["download"]))
        if time.monotonic() > deadline:
            raise OperatorCallFailed(f"export: still running after {EXPORT_WAIT_SECONDS:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


async def _download(client: ServiceClient, site: dict[str, Any], link: str) -> bytes:
    """The zip behind an export's download link, fetched from media directly."""
    parts = urlsplit(link)
    file_id = parts.path.split("/")[-2]
    token = parse_qs(parts.query)["token"][0]
    response = await client.call(
        "media",
        "GET",
        "/internal/media/files/{file_id}/content",
        params={"file_id": file_id},
        query={"token": token},
        **site,
    )
    if response.status != 200:
        raise OperatorCallFailed(f"export: media answered {response.status} for the zip")
    return response.body


async def erase_account(
    client: ServiceClient, site: str, account_id: str, content: str
) -> dict[str, Any]:
    """Erase `account_id` of `site` from every store; the erasure with its signed receipt."""
    tenant = await site_context(client, site)
    response = await client.call(
        "privacy",
        "POST",
        "/internal/privacy/erasures",
        json={"account_id": account_id, "content": content},
        **tenant.call_args(),
    )
    if response.status != 201:
        answer(response, "erasure")
    document: dict[str, Any] = response.json()
    return document


async def replay_erasures(client: ServiceClient, site: str) -> dict[str, Any]:
    """Replay `site`'s erasure ledger (what every restore does before serving the site); how
    many erasures ran again, and the audit event recording it."""
    tenant = await site_context(client, site)
    response = await client.call(
        "privacy", "POST", "/internal/privacy/erasures/replay", **tenant.call_args()
    )
    return answer(response, "erasure ledger replay")
