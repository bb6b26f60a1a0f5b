"""A real aiohttp server on loopback playing a callee, and a ServiceClient pointed at it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import certifi
from aiohttp import web

from tenantry.platform.client import ServiceClient
from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.tokens import TokenSigner


@contextlib.asynccontextmanager
async def client_of(app: web.Application, key_dir: Path) -> AsyncIterator[ServiceClient]:
    """Serve `app` on a free loopback port as the service `notes`; a client that calls it."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    directory = ServiceDirectory(
        services={"notes": {"global": f"http://127.0.0.1:{port}"}}, ca_file=Path(certifi.where())
    )
    client = ServiceClient(TokenSigner(ensure_service_key(key_dir, "issues")), directory)
    try:
        yield client
    finally:
        await client.close()
        await runner.cleanup()
