"""Serve an ASGI app with uvicorn on a TLS listener that only speaks forward-secret TLS 1.2+."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.tls import server_ssl_context


def serve(app: ASGIApp, *, host: str, port: int, cert: Path, key: Path) -> None:
    """Run `app` until SIGINT/SIGTERM on a strict TLS listener."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=5,
        # uvicorn's own context would allow non-forward-secret suites; ours does not.
        ssl_context_factory=lambda _config, _default: server_ssl_context(cert, key),
    )
    uvicorn.Server(config).run()
