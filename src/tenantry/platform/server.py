"""Serve an ASGI app with uvicorn on TLS listeners that only speak forward-secret TLS 1.2+.

The listening sockets come from the caller, already bound (`tenantry up` binds every one and
hands them to its processes), so no port is ever free for another program to take in between.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.change_feed import end_every_wait
from tenantry.platform.guarded_http import HttpGuards, guarded_protocol
from tenantry.platform.tls import server_ssl_context


class _Server(uvicorn.Server):
    """uvicorn's server, which ends held long polls as it begins to shut down: it waits for
    every request in flight to end, and a held poll would otherwise keep it for its whole
    graceful-shutdown timeout."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_every_wait()
        await super().shutdown(sockets)


def serve(
    app: ASGIApp,
    *,
    sockets: Sequence[socket.socket],
    cert: Path,
    key: Path,
    guards: Mapping[int, HttpGuards] | None = None,
) -> None:
    """Run `app` until SIGINT/SIGTERM on the listening `sockets`, each a strict TLS listener
    that waits on no client long; `guards` by port (the defaults for a port not named)."""
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        loop="uvloop",
        http=guarded_protocol(guards or {}),
        # No service speaks WebSocket; an upgrade request is answered as plain HTTP.
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        # The peer address is the client: a forwarded-for header is never believed, so no caller
        # can pick the address that the edge's per-client limit counts against.
        proxy_headers=False,
        date_header=False,
        timeout_graceful_shutdown=5,
        # uvicorn's own context would allow non-forward-secret suites; ours does not.
        ssl_context_factory=lambda _config, _default: server_ssl_context(cert, key),
    )
    _Server(config).run(sockets=list(sockets))
