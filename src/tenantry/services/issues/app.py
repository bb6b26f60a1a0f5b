"""Assemble the issues process of one region: its shards' databases behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.client import ServiceClient
from tenantry.platform.cursors import ListCursors
from tenantry.platform.data_keys import DataKeys, data_key_max_age
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tenant_lookup import TenantLookup
from tenantry.services.issues.attachment_deletions import AttachmentDeletions
from tenantry.services.issues.attachments import build_attachments_router
from tenantry.services.issues.internal_routes import build_internal_router
from tenantry.services.issues.media_files import MediaFiles
from tenantry.services.issues.models import SCHEMA
from tenantry.services.issues.privacy_routes import build_privacy_router
from tenantry.services.issues.routes import build_router
from tenantry.services.issues.site_accounts import SiteAccounts
from tenantry.services.issues.trash_purges import TrashPurges
from tenantry.services.issues.trash_routes import build_trash_router


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The issues ASGI app for a runtime loaded by `tenantry serve issues --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    client = ServiceClient(runtime.signer, runtime.directory)
    data_keys = DataKeys(client, max_age=data_key_max_age())
    media = MediaFiles(client)
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    tenants = TenantLookup(client, TenantContextVerifier(runtime.keys))
    deletions = AttachmentDeletions(databases, media, tenants, runtime.region, shards)
    trash_seconds = runtime.topology.retention.trash_seconds
    purges = TrashPurges(databases, deletions, media, runtime.region, shards, trash_seconds)
    cursors = ListCursors(runtime.key)
    return create_service_app(
        runtime,
        [
            build_router(databases, data_keys, SiteAccounts(client), cursors, purges),
            build_attachments_router(databases, data_keys, media, purges),
            build_trash_router(databases, data_keys, media, cursors, purges),
            build_internal_router(databases, data_keys),
            build_privacy_router(databases, data_keys),
        ],
        loops=[deletions.loop, purges.loop],
        clients=[client],
        databases=[databases],
    )
