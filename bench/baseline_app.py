"""The floors the spine benchmark measures tenantry against.

`make_baseline()` is the least a create-then-read API can do: a bare ASGI callable (no framework,
no middleware) that inserts a row into SQLite on `POST /issues` and selects it on
`GET /issues/{key}`. `make_proxy()` puts one pure-ASGI reverse-proxy hop over TLS in front of it,
with either aiohttp or httpx as the upstream client, so the cost of each client can be compared in
one run. Both are served by `tenantry.platform.server.serve`, exactly as tenantry's services are.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sqlite3
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import httpx

from tenantry.platform.server import serve
from tenantry.platform.tls import client_ssl_context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_ISSUE_PATH = re.compile(r"^/issues/([A-Z][A-Z0-9]{0,9})-([0-9]{1,18})$")
# Headers that describe one connection, not the message; a proxy must not forward them.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


async def _read_body(receive: Receive) -> bytes:
    """Collect a request body that may arrive in several ASGI messages."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete response with an exact content-length."""
    raw_headers = [(b"content-length", str(len(body)).encode())]
    raw_headers.extend(headers or [(b"content-type", b"application/json")])
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(
    receive: Receive,
    send: Send,
    startup: Callable[[], Awaitable[None]],
    shutdown: Callable[[], Awaitable[None]],
) -> None:
    """Run the ASGI lifespan protocol around one startup and one shutdown hook."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _open_database(path: str) -> sqlite3.Connection:
    """Open the baseline's SQLite file with the pragmas tenantry's SQLite backend uses."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=5000")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS issues ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " project TEXT NOT NULL, summary TEXT NOT NULL, description TEXT NOT NULL)"
    )
    return connection


def make_baseline() -> App:
    """Build the bare create/read app over the SQLite file named by BENCH_DB."""
    db = _open_database(os.environ["BENCH_DB"])

    async def create(receive: Receive, send: Send) -> None:
        try:
            doc = json.loads(await _read_body(receive))
            project, summary, description = doc["project"], doc["summary"], doc["description"]
        except (ValueError, KeyError, TypeError):
            await _respond(send, 400, b'{"error":"bad_request","message":"invalid issue"}')
            return
        cursor = db.execute(
            "INSERT INTO issues (project, summary, description) VALUES (?, ?, ?)",
            (project, summary, description),
        )
        issue = {
            "key": f"{project}-{cursor.lastrowid}",
            "project": project,
            "summary": summary,
            "description": description,
        }
        await _respond(send, 201, json.dumps(issue).encode())

    async def read(send: Send, project: str, number: int) -> None:
        row = db.execute(
            "SELECT project, summary, description FROM issues WHERE id = ? AND project = ?",
            (number, project),
        ).fetchone()
        if row is None:
            await _respond(send, 404, b'{"error":"not_found","message":"issue was not found"}')
            return
        issue = {
            "key": f"{project}-{number}",
            "project": row[0],
            "summary": row[1],
            "description": row[2],
        }
        await _respond(send, 200, json.dumps(issue).encode())

    async def nothing() -> None:
        return None

    async def close() -> None:
        db.close()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, nothing, close)
            return
        method, path = scope["method"], scope["path"]
        if method == "POST" and path == "/issues":
            await create(receive, send)
        elif method == "GET" and (match := _ISSUE_PATH.match(path)):
            await read(send, match.group(1), int(match.group(2)))
        elif method == "GET" and path == "/_health":
            await _respond(send, 200, b'{"status":"ok"}')
        else:
            await _respond(send, 404, b'{"error":"not_found","message":"no such route"}')

    return app


class _Upstream(Protocol):
    """The one operation the proxy needs from an HTTP client library."""

    async def start(self) -> None:
        """Create the client (inside the running event loop)."""

    async def forward(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream and return status, headers and the whole body."""

    async def close(self) -> None:
        """Release the client's connections."""


class _AiohttpUpstream:
    """One aiohttp ClientSession per process, keeping connections to the upstream alive."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._session: Any = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self._tls, limit=100)
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def forward(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        async with self._session.request(
            method, url, headers=headers, data=body or None, allow_redirects=False
        ) as response:
            content = await response.read()
            return response.status, list(response.headers.items()), content

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class _HttpxUpstream:
    """One httpx.AsyncClient per process, keeping connections to the upstream alive."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._client: Any = None

    async def start(self) -> None:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        self._client = httpx.AsyncClient(verify=self._tls, limits=limits, follow_redirects=False)

    async def forward(
        self, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        response = await self._client.request(method, url, headers=headers, content=body or None)
        return response.status_code, list(response.headers.items()), response.content

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def make_proxy() -> App:
    """Build a one-hop reverse proxy to BENCH_UPSTREAM using the client named by BENCH_CLIENT."""
    upstream_url = os.environ["BENCH_UPSTREAM"].rstrip("/")
    tls = client_ssl_context(Path(os.environ["BENCH_CA"]))
    kind = os.environ["BENCH_CLIENT"]
    if kind == "aiohttp":
        upstream: _Upstream = _AiohttpUpstream(tls)
    elif kind == "httpx":
        upstream = _HttpxUpstream(tls)
    else:
        raise ValueError(f"BENCH_CLIENT must be aiohttp or httpx, not {kind!r}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, upstream.start, upstream.close)
            return
        body = await _read_body(receive)
        url = upstream_url + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in _HOP_BY_HOP
        ]
        status, reply_headers, content = await upstream.forward(scope["method"], url, headers, body)
        kept = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in reply_headers
            if name.lower() not in _HOP_BY_HOP and name.lower() not in {"date", "server"}
        ]
        await _respond(send, status, content, kept)

    return app


def main() -> None:
    """Serve one bench app on 127.0.0.1 exactly as tenantry serves its services."""
    parser = argparse.ArgumentParser(description="Serve a spine benchmark app.")
    parser.add_argument("app", choices=("baseline", "proxy"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    args = parser.parse_args()
    app = make_baseline() if args.app == "baseline" else make_proxy()
    listener = socket.create_server(("127.0.0.1", args.port), backlog=2048)
    serve(app, sockets=[listener], cert=args.cert, key=args.key)


if __name__ == "__main__":
    main()
