"""Assemble the tcs process: its catalog on the global database, behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.operator_delivery import delivery_to_operator_log
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.change_feed import ChangeFeed
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.cursors import ListCursors
from tenantry.platform.errors import ApiError
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.tenant_context import context_signer, sign_tenant_context
from tenantry.services.tcs.catalog import SCHEMA, AuditOutboxRow, Catalog
from tenantry.services.tcs.legal_register import LegalRegister
from tenantry.services.tcs.legal_routes import build_legal_router
from tenantry.services.tcs.routes import build_router
from tenantry.services.tcs.site_deletions import SiteDeletions


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The tcs ASGI app for a runtime loaded by `tenantry serve tcs`."""
    engine = storage_backend(runtime.topology, runtime.data_dir).open(SCHEMA, GLOBAL_SHARD)
    signer = context_signer(runtime.key)
    client = ServiceClient(runtime.signer, runtime.directory)

    async def context_of(cloud_id: str) -> tuple[TenantContext, str]:
        tenant = catalog.by_cloud_id(cloud_id)
        if tenant is None:
            raise ApiError(503, "tenant_unknown", f"no tenant {cloud_id} to deliver events of")
        context = tenant.context()
        return context, sign_tenant_context(signer, context)

    outbox = AuditOutbox(
        AuditOutboxRow,
        lambda _shard: engine,
        [GLOBAL_SHARD],
        client,
        context_of,
        operator_log=delivery_to_operator_log(client, runtime.topology),
    )
    catalog = Catalog(engine, runtime.topology, outbox)
    cursors = ListCursors(runtime.key)
    feed = ChangeFeed()
    deletions = SiteDeletions(catalog, feed, client, signer)

    async def close_database() -> None:
        engine.dispose()

    return create_service_app(
        runtime,
        [
            build_router(catalog, feed, signer, cursors, deletions),
            build_legal_router(LegalRegister(catalog)),
        ],
        loops=[deletions.loop, outbox.loop],
        clients=[client],
        on_shutdown=[close_database],
    )
