"""Assemble the media process of one region: the only process holding the media store.

The store is chosen from this process's own environment (`TENANTRY_MEDIA_*`, see
`tenantry.platform.blobstore.choose`); by default a directory `media/<region>` under the data
directory, readable by its owner only.
"""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.audit.tcs_contexts import contexts_from_tcs
from tenantry.platform.blobstore.choose import blob_store_from_env
from tenantry.platform.client import ServiceClient
from tenantry.platform.data_keys import DataKeys, data_key_max_age
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.services.media.blob_moves import BlobMoves, build_blob_move_router
from tenantry.services.media.blob_retirements import BlobRetirements
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.limits import default_limits
from tenantry.services.media.models import SCHEMA, AuditOutboxRow
from tenantry.services.media.previews import PreviewWorkers
from tenantry.services.media.privacy_routes import build_privacy_router
from tenantry.services.media.processing import Processor
from tenantry.services.media.render import pool_renderer
from tenantry.services.media.requeue import Requeue
from tenantry.services.media.reseal import build_reseal_router
from tenantry.services.media.routes import build_router
from tenantry.services.media.service import Media
from tenantry.services.media.spec import ENV_PREFIX
from tenantry.services.media.tokens import MediaTokens

PREVIEW_WORKERS = 2


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The media ASGI app for a runtime loaded by `tenantry serve media --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    client = ServiceClient(runtime.signer, runtime.directory)
    store = blob_store_from_env(os.environ, ENV_PREFIX, runtime.data_dir / "media" / runtime.region)
    encrypted = EncryptedBlobs(store)
    # Worker processes start when there are previews to make, and exit once idle.
    workers = PreviewWorkers(workers=PREVIEW_WORKERS)
    processor = Processor(databases, encrypted, pool_renderer(workers))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    keep_seconds = runtime.topology.backup.retention_seconds
    retirements = BlobRetirements(databases, encrypted, shards, keep_seconds)
    contexts = contexts_from_tcs(client, TenantContextVerifier(runtime.keys))
    audit = AuditOutbox(AuditOutboxRow, databases.engine_for, shards, client, contexts)
    media = Media(
        databases,
        DataKeys(client, max_age=data_key_max_age()),
        encrypted,
        default_limits(),
        processor,
        retire=retirements.retire,
        audit=audit,
    )
    tokens = MediaTokens(runtime.key, runtime.keys)
    requeue = Requeue(media, client, TenantContextVerifier(runtime.keys), shards)

    async def close_workers() -> None:
        await asyncio.to_thread(workers.close)

    return create_service_app(
        runtime,
        [
            build_router(media, tokens),
            build_reseal_router(media),
            build_blob_move_router(BlobMoves(databases, store, client, runtime.region, shards)),
            build_privacy_router(media),
        ],
        loops=[requeue.loop, retirements.loop, audit.loop],
        on_shutdown=[processor.close, close_workers],
        clients=[client],
        databases=[databases],
    )
