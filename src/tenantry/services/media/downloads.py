"""Sending a file's plaintext as it is decrypted, without ever sending a frame that failed.

The response declares the file's full length. Its first part was checked before the headers go
out; every later frame is decrypted (and authenticated) in a worker thread just before it is
sent. If a later frame fails its check, nothing of it is sent: the response stops short of its
declared length and the connection is closed, so the client sees an aborted download, never a
complete-looking file. (A failure before the headers is a plain 500 `ciphertext_rejected`.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tenantry.platform.errors import ApiError

log = structlog.get_logger("tenantry.media.downloads")
_END = object()


class FrameStreamResponse(Response):
    """A download of `length` bytes: `first`, then `rest` pulled frame by frame off the loop."""

    def __init__(
        self,
        first: bytes,
        rest: Iterator[bytes],
        length: int,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(None, media_type=media_type, headers={**headers})
        self.headers["content-length"] = str(length)
        self._first = first
        self._rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self._first, "more_body": True})
        while True:
            try:
                piece = await run_in_threadpool(next, self._rest, _END)
            except ApiError as failed:
                # Stop short of the declared length: the server closes the connection.
                log.error("download_aborted", reason=failed.code)
                return
            if piece is _END:
                break
            assert isinstance(piece, bytes)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
