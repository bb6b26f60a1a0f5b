"""Relaying a media download through the edge piece by piece, so no download sits in memory.

The callee's status and headers go out first (its `content-length` too, when it gave one),
then each piece of its body as it arrives (`more_body`). If the callee's body is cut short
(media stops a download whose next frame failed its integrity check), the edge stops too,
short of the declared length, and the server closes the connection: the client sees an
aborted download, never a complete-looking one.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from tenantry.platform.asgi import Send
from tenantry.platform.client import StreamedResponse
from tenantry.platform.errors import ApiError

log = structlog.get_logger("tenantry.edge.relay")


async def relay(send: Send, response: StreamedResponse, forwarded: Sequence[str]) -> bool:
    """Send `response` on; False when its body was cut short (the client's response is too)."""
    headers = [
        (name.encode(), response.headers[name].encode())
        for name in (*forwarded, "content-length")
        if name in response.headers
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    try:
        async for piece in response.pieces():
            await send({"type": "http.response.body", "body": piece, "more_body": True})
    except ApiError as cut:
        log.error("relay_aborted", status=response.status, reason=cut.code)
        return False
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True
