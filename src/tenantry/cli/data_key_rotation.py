"""`tenantry keys rotate-data-key SITE`: a new data key for one site, its data resealed, old
versions retired.

The operator asks tcs for the site's signed tenant context, asks the site's kms for the next
data key version, then has each service that seals the site's data (issues and pages: fields,
identity: account emails, media: blobs) reseal it in batches until nothing is left under an older
version, with one progress bar and a task per service. One more round, after a short pause
(for requests that took the old key just before their service heard of the new one), must find
nothing left to reseal. Only then does kms retire every version below the new one: from that
moment kms refuses them to services (they stay stored, wrapped, for old backups). The site is
served throughout. Stopped half way, the command is simply run again: it makes another
version, and resealing starts over, skipping what is already current; nothing is retired until
every service has finished.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tenantry.cli.site_calls import OperatorCallFailed, SiteContext, answer, site_context
from tenantry.platform.client import ServiceClient, ServiceResponse

BATCH = 200
MEDIA_BATCH = 20  # files: each may be many megabytes to decrypt and encrypt again
# A tenant context from tcs lives 300 s; get a new one well before it runs out.
CONTEXT_MARGIN_SECONDS = 60
# Items a service left for later (media files still being rendered): passes again after these.
DEFERRED_WAITS_SECONDS = (0.5, 1, 2, 4, 8, 15, 30)
# A request that took the site's keys just before its service heard of the new version may
# still write under the old one after the first round passed its row. A last round, after
# this pause, must find nothing under an older version before anything is retired.
SETTLE_SECONDS = 2.0
MAX_ROUNDS = 4

Send = Callable[[dict[str, Any], SiteContext], Awaitable[ServiceResponse]]


@dataclass(frozen=True, slots=True)
class ResealStep:
    """One service's reseal route, and what it counts (rows or files)."""

    service: str
    unit: str
    batch: int
    send: Send


def reseal_steps(client: ServiceClient) -> list[ResealStep]:
    """The services that seal a site's data, in the order they are resealed."""
    return [
        ResealStep(
            "issues",
            "rows",
            BATCH,
            lambda body, site: client.call(
                "issues", "POST", "/internal/issues/reseal", json=body, **site.call_args()
            ),
        ),
        ResealStep(
            "pages",
            "rows",
            BATCH,
            lambda body, site: client.call(
                "pages", "POST", "/internal/pages/reseal", json=body, **site.call_args()
            ),
        ),
        ResealStep(
            "identity",
            "rows",
            BATCH,
            lambda body, site: client.call(
                "identity", "POST", "/internal/identity/reseal", json=body, **site.call_args()
            ),
        ),
        ResealStep(
            "media",
            "files",
            MEDIA_BATCH,
            lambda body, site: client.call(
                "media", "POST", "/internal/media/reseal", json=body, **site.call_args()
            ),
        ),
    ]


class _Site:
    """The site's signed context, fetched again before it runs out."""

    def __init__(self, client: ServiceClient, site: str, context: SiteContext) -> None:
        self._client = client
        self._site = site
        self.context = context

    async def fresh(self) -> SiteContext:
        if self.context.expires - time.time() < CONTEXT_MARGIN_SECONDS:
            self.context = await site_context(self._client, self._site)
        return self.context


async def rotate_data_key(client: ServiceClient, site: str, console: Console) -> dict[str, Any]:
    """Rotate `site`'s data key, reseal everything and retire older versions; what was done."""
    tenant = _Site(client, site, await site_context(client, site))
    rotated = answer(
        await client.call(
            "kms", "POST", "/internal/kms/data-key/rotate", **tenant.context.call_args()
        ),
        "kms rotate",
    )
    version = int(rotated["version"])
    console.print(f"{site}: data key version {version}")
    resealed: dict[str, int] = {}
    columns = (
        TextColumn("Resealing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        steps = [(step, _bar(progress, step.service)) for step in reseal_steps(client)]
        for round_number in range(MAX_ROUNDS):
            if round_number:
                await asyncio.sleep(SETTLE_SECONDS)
            found = 0
            for step, bar in steps:
                done = await reseal_service(step, tenant, version, bar)
                resealed[step.unit] = resealed.get(step.unit, 0) + done
                found += done
            if round_number and not found:
                break
        else:
            raise OperatorCallFailed(
                "data kept appearing under older key versions; nothing was retired, "
                "run the command again"
            )
    retired = answer(
        await client.call(
            "kms",
            "POST",
            "/internal/kms/data-key/retire",
            json={"below": version},
            **(await tenant.fresh()).call_args(),
        ),
        "kms retire",
    )
    return {
        "version": version,
        "rows": resealed.get("rows", 0),
        "files": resealed.get("files", 0),
        "min_version": int(retired["min_version"]),
    }


Advance = Callable[[int, int], None]
"""Told, after each batch, how many items it looked at and how many remain after it."""


def _bar(progress: Progress, service: str) -> Advance:
    """A task of the progress bar for one service."""
    task = progress.add_task(service, total=None)

    def advance(looked_at: int, remaining: int) -> None:
        progress.advance(task, looked_at)
        done = next(t.completed for t in progress.tasks if t.id == task)
        progress.update(task, total=done + remaining)

    return advance


async def reseal_service(step: ResealStep, tenant: _Site, version: int, advance: Advance) -> int:
    """Have one service reseal everything of the site under `version`; how many it resealed.

    Batches go on from the cursor each answer gives until it gives none. Items the service
    deferred (still busy elsewhere) are picked up by another whole pass, after a pause; if
    some are still deferred after the last pause, the step fails and nothing is retired.
    """
    resealed = 0
    for wait in (*DEFERRED_WAITS_SECONDS, None):
        cursor: str | None = None
        deferred = 0
        while True:
            body = {"cursor": cursor, "limit": step.batch, "min_version": version}
            batch = answer(await step.send(body, await tenant.fresh()), f"{step.service} reseal")
            resealed += int(batch["resealed"])
            deferred += int(batch.get("deferred", 0))
            advance(int(batch["looked_at"]), int(batch["remaining"]))
            cursor = batch["next_cursor"]
            if cursor is None:
                break
        if not deferred:
            return resealed
        if wait is None:
            raise OperatorCallFailed(
                f"{step.service} reseal: {deferred} {step.unit} still busy (being processed); "
                "nothing was retired, run the command again later"
            )
        await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last pass returns or raises")
