"""uvicorn's HTTP protocol with a response's head and body sent in one TLS record and one send.

uvicorn writes a response's head and its body with separate `transport.write` calls. Over TLS
each call is its own record, encrypted and sent by its own system call, and on loopback each
send wakes the reader. Holding the head until the body's first write joins them, which halves
the records and the sends of a small response.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Every response head uvicorn writes starts so; heads larger than this are not held.
_HEAD_START = b"HTTP/1.1 "
_HOLD_BYTES = 16 * 1024


class _CorkedTransport:
    """A transport that holds a response head until the next write, or the loop's next pass.

    A response with no body yet (a stream whose first piece is still coming, a 204) is sent
    when the current pass of the event loop ends, so nothing waits on the next request.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head + data)
        elif data.startswith(_HEAD_START) and len(data) <= _HOLD_BYTES:
            self._head = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send a head still held (its body did not follow in the same pass)."""
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol writing through a `_CorkedTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
