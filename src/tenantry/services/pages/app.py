"""Assemble the pages process of one region: its shards' databases behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.client import ServiceClient
from tenantry.platform.data_keys import DataKeys, data_key_max_age
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.services.pages.internal_routes import build_internal_router
from tenantry.services.pages.models import SCHEMA
from tenantry.services.pages.privacy_routes import build_privacy_router
from tenantry.services.pages.routes import build_router
from tenantry.services.pages.trash_purges import TrashPurges
from tenantry.services.pages.trash_routes import build_trash_router
from tenantry.services.pages.views import PageViews


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The pages ASGI app for a runtime loaded by `tenantry serve pages --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    client = ServiceClient(runtime.signer, runtime.directory)
    data_keys = DataKeys(client, max_age=data_key_max_age())
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    views = PageViews(databases, client, TenantContextVerifier(runtime.keys), shards)
    trash_seconds = runtime.topology.retention.trash_seconds
    purges = TrashPurges(databases, runtime.region, shards, trash_seconds)
    return create_service_app(
        runtime,
        [
            build_router(databases, data_keys, purges, views),
            build_trash_router(databases, data_keys),
            build_internal_router(databases, data_keys),
            build_privacy_router(databases, data_keys, views),
        ],
        loops=[views.flusher, views.loop, purges.loop],
        on_shutdown=[views.flush_at_stop],
        clients=[client],
        databases=[databases],
    )
