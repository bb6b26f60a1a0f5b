"""Assemble the privacy service of one region: its requests on every shard, and its client to
the stores it exports from and erases in."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.audit.tcs_contexts import contexts_from_tcs
from tenantry.platform.client import ServiceClient
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.services.privacy.models import SCHEMA, AuditOutboxRow
from tenantry.services.privacy.routes import build_router
from tenantry.services.privacy.work import Work


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The privacy ASGI app for a runtime loaded by `tenantry serve privacy --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    client = ServiceClient(runtime.signer, runtime.directory)
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    contexts = contexts_from_tcs(client, TenantContextVerifier(runtime.keys))
    audit = AuditOutbox(AuditOutboxRow, databases.engine_for, shards, client, contexts)
    return create_service_app(
        runtime,
        [build_router(databases, Work(databases, client, audit))],
        loops=[audit.loop],
        clients=[client],
        databases=[databases],
    )
