"""Previews in the background: an upload answers at once, rendering happens after.

Each new file is queued; at most `slots` files are in processing at a time. Decrypting and
sealing run in worker threads and rendering in the preview pipeline's worker processes, never on
the event loop, so conversions cannot starve API requests. A render's pages and thumbnail
are sealed like the original; the file then becomes `succeeded` with its page count, or
`failed` with the reason code the renderer gave (`internal_error` for anything unexpected).
Each queued file has an entry in the shard's preview queue until its outcome is recorded, so a
file left `pending` by a stop is found and queued again on the next start.
"""

from __future__ import annotations

import asyncio

import structlog

from tenantry.platform.context import require_tenant
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.media import blobs, store
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.preview_queue import PreviewQueue
from tenantry.services.media.previews import PreviewLimits
from tenantry.services.media.previews.errors import TOO_LARGE
from tenantry.services.media.previews.sniff import sniff_head
from tenantry.services.media.render import Rendered, Renderer, RenderFailed
from tenantry.services.media.store import FileRow

log = structlog.get_logger("tenantry.media.processing")
DEFAULT_SLOTS = 2


class Processor:
    """Runs renders one file at a time per slot, off the event loop, and records outcomes."""

    def __init__(
        self,
        databases: Databases,
        blob_store: EncryptedBlobs,
        renderer: Renderer,
        slots: int = DEFAULT_SLOTS,
        max_render_bytes: int = PreviewLimits().max_bytes,
    ) -> None:
        self._databases = databases
        self._max_render_bytes = max_render_bytes
        self._blobs = blob_store
        self._renderer = renderer
        self._slots = asyncio.Semaphore(slots)
        self.queue = PreviewQueue(databases)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, row: FileRow, keys: TenantKeys) -> None:
        """Queue a file's previews (the tenant context of the caller goes with the task)."""
        task = asyncio.get_running_loop().create_task(self._process(row, keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until every queued render has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop: cancel renders not finished; their files stay `pending` and queued."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _process(self, row: FileRow, keys: TenantKeys) -> None:
        async with self._slots:
            found_type: str | None = None
            try:
                pages, found_type = await self._render_and_store(row, keys)
                status, reason = store.SUCCEEDED, None
            except RenderFailed as failed:
                pages, status, reason = 0, store.FAILED, failed.reason
            except ApiError as error:
                pages, status, reason = 0, store.FAILED, error.code
            except Exception:
                log.exception("render_crashed", file_id=row.id, media_type=row.media_type)
                pages, status, reason = 0, store.FAILED, "internal_error"
            with self._databases.session() as session:
                outcome = (status, reason, pages)
                kept = store.finish_file(session, row.id, outcome, found_type, utc_now())
            await asyncio.to_thread(self.queue.remove, row.id)
            if not kept:  # deleted while rendering: drop what was written
                await asyncio.to_thread(self._blobs.delete_tree, require_tenant().cloud_id, row.id)

    async def _render_and_store(self, row: FileRow, keys: TenantKeys) -> tuple[int, str | None]:
        tenant = require_tenant().cloud_id
        name = blobs.original(row.id)
        # The first frame tells most files with no preview; those are never read whole, so a
        # large upload of any other kind costs one frame of memory here, not its size.
        head = await asyncio.to_thread(self._first_frame, keys, tenant, row.collection, name)
        settled = sniff_head(head)
        if settled is not None and settled.refusal is not None:
            raise RenderFailed(settled.refusal, f"content sniffed as {settled.media_type}")
        if row.size > self._max_render_bytes:
            raise RenderFailed(TOO_LARGE, f"{row.size} bytes, limit {self._max_render_bytes}")
        data = await asyncio.to_thread(self._blobs.read_all, keys, tenant, row.collection, name)
        rendered = await self._renderer(data)
        if not rendered.pages:
            raise RenderFailed("no_pages", "the document has no pages")
        await asyncio.to_thread(self._store, row, keys, rendered)
        return len(rendered.pages), rendered.media_type

    def _first_frame(self, keys: TenantKeys, tenant: str, collection: str, name: str) -> bytes:
        """The first frame of a stored object's plaintext (checked), without reading the rest."""
        return next(self._blobs.read(keys, tenant, collection, name), b"")

    def _store(self, row: FileRow, keys: TenantKeys, rendered: Rendered) -> None:
        tenant = require_tenant().cloud_id
        for number, page in enumerate(rendered.pages, start=1):
            name = blobs.preview(row.id, number)
            self._blobs.write(keys.current, tenant, row.collection, name, [page])
        name = blobs.thumbnail(row.id)
        self._blobs.write(keys.current, tenant, row.collection, name, [rendered.thumbnail])
