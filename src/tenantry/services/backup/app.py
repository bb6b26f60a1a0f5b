"""Assemble the backup service of one region: the agent that keeps its databases backed up.

On SQLite it runs Litestream over every database of the region (and, in the default region,
over the global ones) and seals what Litestream writes into the region's two repositories, on
the platform's background loop. On PostgreSQL it prepares pgBackRest for the servers the region
protects and takes their scheduled backups (`pgbackrest_agent.py`). Either way the region's
media blobs are copied beside. It serves no routes of its own: `backup status`, the restores and
the drill read the repositories directly.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceClient
from tenantry.platform.crypto import DataKey
from tenantry.platform.runtime import ServiceRuntime
from tenantry.services.backup.engines.litestream import LitestreamEngine
from tenantry.services.backup.layout import GLOBAL
from tenantry.services.backup.litestream_agent import MEDIA_EVERY_SECONDS, LitestreamAgent
from tenantry.services.backup.pgbackrest_agent import PgBackRestAgent

STEP_PAUSE_SECONDS = 0.25
DAILY_CHECK_SECONDS = 60.0
PGBACKREST_CHECK_SECONDS = 30.0


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The backup service's app for `tenantry serve backup --region R`."""
    if runtime.topology.uses_postgres:
        return _postgres_app(runtime)
    regions = [runtime.region]
    if runtime.region == runtime.topology.default_region:
        regions.append(GLOBAL)
    engines = [LitestreamEngine(runtime.data_dir, runtime.topology, r) for r in regions]
    agent = LitestreamAgent(engines, runtime.region, runtime.data_dir / "logs")
    client = ServiceClient(runtime.signer, runtime.directory)
    daily = {"checked": 0.0}
    keyed = {"done": False}

    async def step() -> None:
        if not keyed["done"]:
            answer = await client.call(
                "kms", "GET", "/internal/kms/backup-key", region=runtime.region
            )
            if answer.status != 200:
                raise RuntimeError(f"kms answered {answer.status} for the backup key")
            body = answer.json()
            agent.set_key(DataKey(int(body["version"]), base64.b64decode(body["key"])))
            keyed["done"] = True
        await asyncio.to_thread(agent.step)
        if time.monotonic() - daily["checked"] > DAILY_CHECK_SECONDS:
            await asyncio.to_thread(agent.full_backups_due, datetime.now(UTC))
            daily["checked"] = time.monotonic()

    async def stop_litestream() -> None:
        await asyncio.to_thread(agent.stop)

    loop = BackgroundLoop("backup-agent", step, STEP_PAUSE_SECONDS, max_retry_seconds=5.0)
    return create_service_app(
        runtime, [], loops=[loop], clients=[client], on_shutdown=[stop_litestream]
    )


def _postgres_app(runtime: ServiceRuntime) -> FastAPI:
    """pgBackRest's preparation and schedule, and the media copies, on two loops."""
    agent = PgBackRestAgent(runtime.data_dir, runtime.topology, runtime.region)
    client = ServiceClient(runtime.signer, runtime.directory)
    keyed = {"done": not agent.protects_servers}

    async def backups() -> None:
        if not keyed["done"]:
            answer = await client.call(
                "kms", "GET", "/internal/kms/backup-passphrase", region=runtime.region
            )
            if answer.status != 200:
                raise RuntimeError(f"kms answered {answer.status} for the backup passphrase")
            agent.set_passphrase(str(answer.json()["passphrase"]))
            keyed["done"] = True
        await asyncio.to_thread(agent.step)

    async def media() -> None:
        await asyncio.to_thread(agent.copy_media)

    loops = [
        BackgroundLoop(
            "backup-pgbackrest", backups, PGBACKREST_CHECK_SECONDS, max_retry_seconds=30.0
        ),
        BackgroundLoop("backup-media", media, MEDIA_EVERY_SECONDS, max_retry_seconds=30.0),
    ]
    return create_service_app(runtime, [], loops=loops, clients=[client])
