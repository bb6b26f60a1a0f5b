"""Assemble the kms process of one region: its root key and its shards' data keys."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.services.kms.data_keys import DataKeys
from tenantry.services.kms.keyring import create_root_key, key_provider
from tenantry.services.kms.models import SCHEMA
from tenantry.services.kms.providers import KeyProvider
from tenantry.services.kms.root_keys import RootKeys
from tenantry.services.kms.rotation import RootRotation
from tenantry.services.kms.routes import build_router


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The kms ASGI app for a runtime loaded by `tenantry serve kms --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    router = build_kms_router(databases, key_provider(runtime), runtime.region, shards)

    async def dispose() -> None:
        databases.dispose()

    return create_service_app(runtime, [router], on_shutdown=[dispose])


def build_kms_router(
    databases: Databases, provider: KeyProvider, region: str, shards: list[str]
) -> APIRouter:
    """The kms routes of `region`, its first root key made if it has none yet."""
    roots = RootKeys(databases)
    roots.ensure_first(region, lambda name: create_root_key(provider, name))
    keys = DataKeys(databases, roots, provider, region, shards)
    return build_router(keys, roots, RootRotation(roots, keys, provider))
