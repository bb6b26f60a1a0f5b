"""A response's head and body leave as one write, and every response still arrives whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from tenantry.platform.asgi import Receive, Scope, Send
from tenantry.platform.corked_http import CorkedHttpToolsProtocol, _CorkedTransport


class RecordingTransport:
    """Stands in for a socket transport, keeping what was written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n"


async def test_a_head_waits_for_its_body_and_they_leave_together() -> None:
    raw = RecordingTransport()
    corked = _CorkedTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(HEAD)
    assert raw.writes == []
    corked.write(b"body")
    assert raw.writes == [HEAD + b"body"]
    corked.write(b"more body")  # not a head: straight through
    assert raw.writes[1:] == [b"more body"]
    await asyncio.sleep(0)
    assert len(raw.writes) == 2


async def test_a_head_without_a_body_yet_leaves_when_the_pass_ends() -> None:
    raw = RecordingTransport()
    corked = _CorkedTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(HEAD)
    await asyncio.sleep(0)
    assert raw.writes == [HEAD]


async def test_close_sends_a_held_head_first() -> None:
    raw = RecordingTransport()
    corked = _CorkedTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    corked.write(HEAD)
    corked.close()
    assert raw.writes == [HEAD]
    assert raw.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing held and writes nothing
    assert raw.writes == [HEAD]


async def test_a_large_head_is_not_held() -> None:
    raw = RecordingTransport()
    corked = _CorkedTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    large = b"HTTP/1.1 200 OK\r\nx-large: " + b"x" * 20_000 + b"\r\n\r\n"
    corked.write(large)
    assert raw.writes == [large]


class CountingProtocol(CorkedHttpToolsProtocol):
    """The corked protocol over a transport that counts what reaches the socket."""

    socket_writes: list[bytes] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        original = transport.write

        def counted(data: bytes | bytearray | memoryview) -> None:
            CountingProtocol.socket_writes.append(bytes(data))
            original(data)

        transport.write = counted  # type: ignore[method-assign]
        super().connection_made(transport)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Small, streamed and large answers, so each way of writing a body is exercised."""
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/small":
        body = b'{"ok":true}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif path == "/streamed":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        body = bytes(range(256)) * 1024
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def corked_server() -> AsyncIterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=CountingProtocol, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_a_small_response_reaches_the_socket_in_one_write() -> None:
    CountingProtocol.socket_writes = []
    async with corked_server() as base, httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/small")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert len(CountingProtocol.socket_writes) == 1
    assert CountingProtocol.socket_writes[0].endswith(b'\r\n\r\n{"ok":true}')


async def test_streamed_large_and_kept_alive_responses_arrive_whole_and_in_order() -> None:
    async with corked_server() as base, httpx.AsyncClient(base_url=base) as http:
        for _ in range(3):  # one connection, kept alive between the requests
            streamed = await http.get("/streamed")
            assert streamed.content == b"one,two,three"
            large = await http.get("/large")
            assert large.content == bytes(range(256)) * 1024
            assert (await http.get("/small")).json() == {"ok": True}
