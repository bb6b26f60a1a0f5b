"""The render step as media calls it: bytes in, preview pages and a thumbnail (PNG) out.

The preview pipeline (`tenantry.services.media.previews`) does the work: it sniffs the whole
file again, re-encodes images, rasterises PDFs and converts Office files in a sandbox. Here it
is wrapped as one awaitable: in the pipeline's pool of worker processes in the service, or in a
thread where a pool is not wanted (tests, tools). Either way the event loop never renders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tenantry.services.media.previews import PreviewFailed, PreviewResult, PreviewWorkers

NAME_FOR_RENDERER = "upload"
"""The pipeline takes a file name for its records only; media never hands it a client's name."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """Preview pages (PNG, from page 1 on), a thumbnail (PNG), and the type found on the file."""

    pages: list[bytes]
    thumbnail: bytes
    media_type: str | None = None


class RenderFailed(Exception):
    """A file could not be previewed; `reason` is the machine-readable code the API shows."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


Renderer = Callable[[bytes], Awaitable[Rendered]]


def _rendered(result: PreviewResult) -> Rendered:
    return Rendered(list(result.pages), result.thumbnail, result.media_type)


def pool_renderer(workers: PreviewWorkers) -> Renderer:
    """Render in the pipeline's worker processes (a crash or hang there fails only that file)."""

    async def render(data: bytes) -> Rendered:
        try:
            return _rendered(await workers.render(data, NAME_FOR_RENDERER))
        except PreviewFailed as failed:
            raise RenderFailed(failed.reason, str(failed)) from failed

    return render


def thread_renderer() -> Renderer:
    """Render in a worker thread of this process."""

    async def render(data: bytes) -> Rendered:
        from tenantry.services.media.previews.pipeline import render_previews  # on first use

        try:
            return _rendered(await asyncio.to_thread(render_previews, data, NAME_FOR_RENDERER))
        except PreviewFailed as failed:
            raise RenderFailed(failed.reason, str(failed)) from failed

    return render
