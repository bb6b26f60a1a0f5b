"""Assemble the audit service of one region: its tenants' logs and the loop that signs them."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.checkpoint_key import ensure_checkpoint_key, key_name
from tenantry.platform.audit.note import Checkpoint, sign_note, verifier_key
from tenantry.platform.background import BackgroundLoop
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.services.audit.models import SCHEMA
from tenantry.services.audit.routes import build_router
from tenantry.services.audit.store import AuditStore

CHECKPOINT_SECONDS_ENV = "TENANTRY_AUDIT_CHECKPOINT_SECONDS"
CHECKPOINT_SECONDS = 30.0
"""How often grown trees are signed (the promise is at least once a minute)."""


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The audit ASGI app for a runtime loaded by `tenantry serve audit --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    private_key = ensure_checkpoint_key(runtime.data_dir, runtime.region)
    name = key_name(runtime.region)

    def sign(checkpoint: Checkpoint) -> str:
        return sign_note(checkpoint.text(), name, private_key)

    store = AuditStore(databases, runtime.region, shards, sign)
    router = APIRouter()
    router.include_router(build_router(store, verifier_key(name, private_key.public_key())))
    pause = float(os.environ.get(CHECKPOINT_SECONDS_ENV, CHECKPOINT_SECONDS))

    async def sign_grown() -> None:
        await asyncio.to_thread(store.sign_grown)

    loop = BackgroundLoop("audit-checkpoints", sign_grown, min(pause, 60.0))
    return create_service_app(
        runtime, [router], loops=[loop], databases=[databases], serves_inactive_tenants=True
    )
