"""Assemble the analytics process of one region: its shards' databases behind the platform
layers, and the loop that drops viewers whose time is up."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.services.analytics.internal_routes import build_internal_router
from tenantry.services.analytics.models import SCHEMA
from tenantry.services.analytics.privacy_routes import build_privacy_router
from tenantry.services.analytics.retention import Retention
from tenantry.services.analytics.routes import build_router


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The analytics ASGI app for a runtime loaded by `tenantry serve analytics --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    retention = Retention(databases, runtime.region, shards)
    return create_service_app(
        runtime,
        [
            build_router(databases),
            build_internal_router(databases, retention),
            build_privacy_router(databases),
        ],
        loops=[retention.loop],
        databases=[databases],
    )
