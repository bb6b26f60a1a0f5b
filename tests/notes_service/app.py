"""Assemble the notes process of one region: its shards' databases behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from notes_service.models import SCHEMA
from notes_service.routes import build_router
from notes_service.store import NoteStore
from tenantry.platform.app import create_service_app
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The notes ASGI app for a loaded runtime."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))

    async def close_databases() -> None:
        databases.dispose()

    return create_service_app(
        runtime, [build_router(NoteStore(databases))], on_shutdown=[close_databases]
    )
