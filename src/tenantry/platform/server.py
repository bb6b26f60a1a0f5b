"""Serve an ASGI app with uvicorn on TLS listeners that only speak forward-secret TLS 1.2+.

The listening sockets come from the caller, already bound (`tenantry up` binds every one and
hands them to its processes), so no port is ever free for another program to take in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

import uvicorn

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.change_feed import end_every_wait
from tenantry.platform.guarded_http import HttpGuards, guarded_protocol
from tenantry.platform.tls import server_ssl_context


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
    RestingServer(config).run(sockets=list(sockets))


class RestingServer(uvicorn.Server):
    """uvicorn's server, resting between stop signals instead of waking ten times a second.

    uvicorn's own main loop wakes every 0.1 s to refresh its date header and look for a stop
    request; with no date header sent, there is nothing to refresh, so this one sleeps until a
    stop signal arrives (checking at least once a second, in case the signal came in between).
    """

    STOP_CHECK_SECONDS = 1.0

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stop: asyncio.Event | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        """Rest until told to stop."""
        self._event_loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server_state.default_headers = list(self.config.encoded_headers)
        while not self.should_exit:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.STOP_CHECK_SECONDS)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End held long polls first: shutting down waits for every request in flight, and a
        held poll would otherwise keep it for its whole graceful-shutdown timeout."""
        end_every_wait()
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Record the stop (as uvicorn does) and end the rest at once."""
        super().handle_exit(sig, frame)
        loop, stop = self._event_loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
