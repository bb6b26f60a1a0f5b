"""`tenantry keys rotate-data-key SITE`: a new data key for one site, and its data resealed.

The operator asks tcs for the site's signed tenant context, asks the site's kms for the next
data key version, then has the issues service reseal the site's fields in batches until none is
left under an older version, with a progress bar. The site is served throughout. Stopped half
way, the command is simply run again: it makes another version, and resealing starts over,
skipping what is already current.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tenantry.cli.site_calls import answer, site_context
from tenantry.platform.client import ServiceClient

BATCH = 200
# A tenant context from tcs lives 300 s; get a new one well before it runs out.
CONTEXT_MARGIN_SECONDS = 60


async def rotate_data_key(client: ServiceClient, site: str, console: Console) -> dict[str, int]:
    """Rotate `site`'s data key and reseal everything; the new version and rows resealed."""
    tenant = await site_context(client, site)
    rotated = answer(
        await client.call("kms", "POST", "/kms/data-key/rotate", **tenant.call_args()),
        "kms rotate",
    )
    version = int(rotated["version"])
    console.print(f"{site}: data key version {version}")
    cursor: str | None = None
    resealed = 0
    columns = (TextColumn("Resealing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("reseal", total=None)
        while True:
            if tenant.expires - time.time() < CONTEXT_MARGIN_SECONDS:
                tenant = await site_context(client, site)
            body = {"cursor": cursor, "limit": BATCH, "min_version": version}
            batch = answer(
                await client.call(
                    "issues", "POST", "/internal/issues/reseal", json=body, **tenant.call_args()
                ),
                "issues reseal",
            )
            resealed += int(batch["resealed"])
            progress.advance(task, int(batch["looked_at"]))
            done = progress.tasks[0].completed
            progress.update(task, total=done + int(batch["remaining"]))
            cursor = batch["next_cursor"]
            if cursor is None:
                break
    return {"version": version, "resealed": resealed}
