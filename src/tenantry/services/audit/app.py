"""Assemble the audit service of one region: its tenants' logs and the loop that signs them."""

from __future__ import annotations

import asyncio
import os

from fastapi import APIRouter, FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.checkpoint_key import ensure_checkpoint_key, key_name
from tenantry.platform.audit.note import Checkpoint, sign_note, verifier_key
from tenantry.platform.background import BackgroundLoop, Idle
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.services.audit.models import SCHEMA
from tenantry.services.audit.operator_routes import build_operator_router
from tenantry.services.audit.receipt_routes import build_receipt_router
from tenantry.services.audit.routes import build_router
from tenantry.services.audit.store import AuditStore

CHECKPOINT_SECONDS_ENV = "TENANTRY_AUDIT_CHECKPOINT_SECONDS"
CHECKPOINT_SECONDS = 30.0
"""How soon a grown tree is signed (the promise is at least once a minute)."""
IDLE_CHECK_SECONDS = 600.0
"""The longest rest of the signing loop while no event arrives (a safety net)."""


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The audit ASGI app for a runtime loaded by `tenantry serve audit --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    private_key = ensure_checkpoint_key(runtime.data_dir, runtime.region)
    name = key_name(runtime.region)

    def sign(checkpoint: Checkpoint) -> str:
        return sign_note(checkpoint.text(), name, private_key)

    # An append wakes the signing loop, which then waits out the rest of the checkpoint pause.
    store = AuditStore(databases, runtime.region, shards, sign, on_grown=lambda: loop.wake())
    router = APIRouter()
    vkey = verifier_key(name, private_key.public_key())
    router.include_router(build_router(store, vkey))
    router.include_router(build_operator_router(store, vkey, runtime.topology, runtime.region))
    router.include_router(
        build_receipt_router(name, lambda text, signer: sign_note(text, signer, private_key))
    )
    pause = float(os.environ.get(CHECKPOINT_SECONDS_ENV, CHECKPOINT_SECONDS))

    pause = min(pause, 60.0)

    async def sign_grown() -> int | Idle:
        wait = store.signing_due_in(pause)
        if wait is not None and wait > 0:
            return Idle(wait)
        signed = await asyncio.to_thread(store.sign_grown)
        return signed if signed else Idle()

    loop = BackgroundLoop(
        "audit-checkpoints", sign_grown, pause, idle_pause_seconds=IDLE_CHECK_SECONDS
    )
    return create_service_app(
        runtime, [router], loops=[loop], databases=[databases], serves_inactive_tenants=True
    )
