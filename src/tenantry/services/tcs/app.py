"""Assemble the tcs process: its catalog on the global database, behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.change_feed import ChangeFeed
from tenantry.platform.client import ServiceClient
from tenantry.platform.cursors import ListCursors
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.tenant_context import context_signer
from tenantry.services.tcs.catalog import SCHEMA, Catalog
from tenantry.services.tcs.routes import build_router
from tenantry.services.tcs.site_deletions import SiteDeletions


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The tcs ASGI app for a runtime loaded by `tenantry serve tcs`."""
    engine = storage_backend(runtime.topology, runtime.data_dir).open(SCHEMA, GLOBAL_SHARD)
    catalog = Catalog(engine, runtime.topology)
    signer = context_signer(runtime.key)
    cursors = ListCursors(runtime.key)
    feed = ChangeFeed()
    client = ServiceClient(runtime.signer, runtime.directory)
    deletions = SiteDeletions(catalog, feed, client, signer)

    async def close_database() -> None:
        engine.dispose()

    return create_service_app(
        runtime,
        [build_router(catalog, feed, signer, cursors, deletions)],
        loops=[deletions.loop],
        clients=[client],
        on_shutdown=[close_database],
    )
