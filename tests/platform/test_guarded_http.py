"""The guarded protocol answers what its parser refuses as JSON, and waits on no client long.

Each test runs a real uvicorn server with the protocol on loopback and talks to it with raw
bytes, since a well-behaved HTTP client cannot send what these tests send.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn

from tenantry.platform.asgi import Receive, Scope, Send
from tenantry.platform.guarded_http import HttpGuards, guarded_protocol

READ_SECONDS = 20.0
"""How long a test waits for an answer: far past every deadline the tests set."""

seen_disconnects: list[str] = []


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, then answer with it; `/slow-reader` waits before reading."""
    assert scope["type"] == "http"
    if scope["path"] == "/slow-reader":
        await asyncio.sleep(1.0)
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            seen_disconnects.append(scope["path"])
            return
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = [(b"content-type", b"application/octet-stream")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def guarded_listeners(count: int, guards: HttpGuards) -> AsyncIterator[list[int]]:
    """One server on `count` listening sockets; `guards` on the first, the defaults on the rest."""
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [int(sock.getsockname()[1]) for sock in sockets]
    config = uvicorn.Config(
        echo,
        http=guarded_protocol({ports[0]: guards}),
        ws="none",
        lifespan="off",
        log_level="error",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=sockets))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield ports
    finally:
        server.should_exit = True
        await task
        for sock in sockets:
            sock.close()


@asynccontextmanager
async def guarded_server(guards: HttpGuards) -> AsyncIterator[int]:
    async with guarded_listeners(1, guards) as ports:
        yield ports[0]


async def read_all(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), READ_SECONDS)


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first response in `raw`."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in pairs}
    length = int(headers.get("content-length", "0"))
    return int(lines[0].split()[1]), headers, rest[:length]


def assert_error(raw: bytes, status: int, code: str) -> dict[str, str]:
    found, headers, body = parse(raw)
    assert found == status, raw
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    document = json.loads(body)
    assert set(document) == {"error", "message"}
    assert document["error"] == code
    return headers


MALFORMED = {
    "lower-case method": b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "Content-Length with Transfer-Encoding": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
    ),
    "two Content-Lengths": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
    ),
    "a newline in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: one\ntwo\r\n\r\n",
    "a bare carriage return in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Note: a\rb\r\n\r\n",
    "a byte the URL may not hold": b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    "a broken chunk": (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n"
    ),
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
async def test_what_the_parser_refuses_is_answered_as_json_and_closed(
    request_bytes: bytes,
) -> None:
    async with guarded_server(HttpGuards()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        answer = await read_all(reader)
        writer.close()
    assert_error(answer, 400, "malformed_request")


async def test_an_upgrade_is_refused_before_the_body_is_lost_to_another_protocol() -> None:
    async with guarded_server(HttpGuards()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
            b"Content-Length: 3\r\n\r\nabc"
        )
        answer = await read_all(reader)
        writer.close()
    assert_error(answer, 400, "upgrade_not_supported")


async def test_a_head_larger_than_the_bound_is_refused_without_being_kept() -> None:
    async with guarded_server(HttpGuards(max_head_bytes=4096)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n")
        answer = await read_all(reader)
        writer.close()
    assert_error(answer, 431, "headers_too_large")


@pytest.mark.parametrize(
    "sent", [b"", b"GET / HTTP/1.1\r\nHost: x\r\nX-Half: "], ids=["nothing", "half a head"]
)
async def test_a_head_not_complete_in_time_gets_408_and_the_connection_closes(sent: bytes) -> None:
    async with guarded_server(HttpGuards(head_seconds=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        answer = await read_all(reader)
        writer.close()
    assert_error(answer, 408, "request_head_timeout")


async def test_a_stalled_body_gets_408_and_the_app_sees_the_client_go() -> None:
    seen_disconnects.clear()
    async with guarded_server(HttpGuards(body_stall_seconds=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabcd")
        answer = await read_all(reader)
        writer.close()
    assert_error(answer, 408, "request_body_timeout")
    assert seen_disconnects == ["/stalled"]


async def test_a_body_that_keeps_arriving_is_not_cut_off() -> None:
    async with guarded_server(HttpGuards(body_stall_seconds=5.0)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\n"
        )
        for piece in (b"01", b"23", b"45", b"67", b"89"):
            await asyncio.sleep(0.05)
            writer.write(piece)
        answer = await read_all(reader)
        writer.close()
    status, _, body = parse(answer)
    assert (status, body) == (200, b"0123456789")


async def test_a_body_the_app_has_not_taken_yet_is_not_counted_as_a_stall() -> None:
    """Reading pauses while the app has not taken what arrived; that wait is the server's."""
    body = bytes(range(256)) * 1024
    async with guarded_server(HttpGuards(body_stall_seconds=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /slow-reader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        answer = await read_all(reader)
        writer.close()
    status, _, echoed = parse(answer)
    assert status == 200
    assert echoed == body


async def test_the_next_request_on_a_kept_connection_has_its_own_deadline() -> None:
    async with guarded_server(HttpGuards(head_seconds=0.3)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET / HTT")
        answer = await read_all(reader)
        writer.close()
    first, _, body = parse(answer)
    assert (first, body) == (200, b"ok")
    second = answer[answer.index(b"ok") + 2 :]
    assert_error(second, 408, "request_head_timeout")


async def test_one_address_may_hold_only_so_many_connections() -> None:
    guards = HttpGuards(connections_per_client=2, answer_headers=((b"x-frame-options", b"DENY"),))
    async with guarded_server(guards) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        headers = assert_error(await read_all(reader), 429, "too_many_connections")
        assert headers["retry-after"] == "1"
        assert headers["x-frame-options"] == "DENY"
        writer.close()
        # A held connection is still served, and once one closes another may open.
        held_reader, held_writer = held[0]
        held_writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
        status, _, echoed = parse(await asyncio.wait_for(held_reader.read(1024), READ_SECONDS))
        assert (status, echoed) == (200, b"hi")
        held[1][1].close()
        await held[1][1].wait_closed()
        answered = b""
        for _ in range(100):  # the server sees the close a moment after the client makes it
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answered = await read_all(reader)
            writer.close()
            if parse(answered)[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert parse(answered)[0] == 200, answered
        held_writer.close()


async def test_each_listening_port_has_its_own_guards() -> None:
    """One server holds a region's listeners: the edge's cap binds on its port alone."""
    guards = HttpGuards(connections_per_client=1)
    async with guarded_listeners(2, guards) as (capped, internal):
        held = await asyncio.open_connection("127.0.0.1", capped)
        reader, writer = await asyncio.open_connection("127.0.0.1", capped)
        assert_error(await read_all(reader), 429, "too_many_connections")
        writer.close()
        opened = [await asyncio.open_connection("127.0.0.1", internal) for _ in range(3)]
        for reader, writer in opened:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert parse(await read_all(reader))[0] == 200
            writer.close()
        held[1].close()
