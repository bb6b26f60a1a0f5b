"""Assemble the kms process of one region: its root key and its shards' data keys."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.audit.tcs_contexts import contexts_from_tcs
from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceClient
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.services.kms.audit import TenantKeyEvents
from tenantry.services.kms.backup_key_routes import build_backup_key_router
from tenantry.services.kms.byok import Byok
from tenantry.services.kms.byok_routes import build_byok_router
from tenantry.services.kms.customer_keys import CustomerKeys
from tenantry.services.kms.data_key_store import DataKeyStore
from tenantry.services.kms.key_availability import tcs_teller
from tenantry.services.kms.key_moves import KeyMoves, build_key_move_router
from tenantry.services.kms.key_watch import IDLE_CHECK_SECONDS, CustomerKeyWatch, check_interval
from tenantry.services.kms.keyring import create_root_key, key_provider
from tenantry.services.kms.models import SCHEMA, AuditOutboxRow
from tenantry.services.kms.owner_routes import build_owner_router
from tenantry.services.kms.owners import KeyOwners
from tenantry.services.kms.providers import KeyProvider, LocalKeyProvider
from tenantry.services.kms.providers.routing import KeyProviders
from tenantry.services.kms.root_keys import RootKeys
from tenantry.services.kms.rotation import RootRotation
from tenantry.services.kms.routes import build_router


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The kms ASGI app for a runtime loaded by `tenantry serve kms --region R`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    shards = [shard.name for shard in runtime.topology.regions[runtime.region].shards]
    provider = key_provider(runtime)
    audit_client = ServiceClient(runtime.signer, runtime.directory)
    contexts = contexts_from_tcs(audit_client, TenantContextVerifier(runtime.keys))
    # The global database holds the records of tenants' own keys, and with them their events;
    # kms of each region delivers its own region's tenants' events from there.
    outbox = AuditOutbox(
        AuditOutboxRow,
        databases.engine_for,
        [GLOBAL_SHARD, *shards],
        audit_client,
        contexts,
        region=runtime.region,
    )
    events = TenantKeyEvents(outbox)
    # Retries are left to the watch itself: it tells tcs again on its next round.
    client = ServiceClient(runtime.signer, runtime.directory, retries=0)
    watch = CustomerKeyWatch(
        CustomerKeys(databases, events),
        KeyProviders(provider),
        runtime.region,
        tcs_teller(client),
    )
    loop = BackgroundLoop(
        "customer-key-watch",
        watch.check_once,
        check_interval(),
        idle_pause_seconds=IDLE_CHECK_SECONDS,
    )
    router = build_kms_router(
        databases, provider, runtime.region, shards, loop.wake, events, moves_client=audit_client
    )
    return create_service_app(
        runtime,
        [router],
        loops=[loop, outbox.loop],
        clients=[client, audit_client],
        databases=[databases],
    )


def build_kms_router(
    databases: Databases,
    provider: KeyProvider,
    region: str,
    shards: list[str],
    on_customer_keys_changed: Callable[[], None] = lambda: None,
    events: TenantKeyEvents | None = None,
    moves_client: ServiceClient | None = None,
) -> APIRouter:
    """The kms routes of `region`, its first root key made if it has none yet;
    `on_customer_keys_changed` hears of every tenant switched to or from its own key."""
    roots = RootKeys(databases)
    roots.ensure_first(region, lambda name: create_root_key(provider, name))
    # Data keys are wrapped by the root key, or by a tenant's own AWS KMS key (BYOK).
    keys = DataKeyStore(databases, roots, KeyProviders(provider), region, shards, events=events)
    rotation = RootRotation(roots, keys, provider)
    router = APIRouter()
    router.include_router(build_router(keys, roots, rotation))
    byok = Byok(keys, roots, keys.provider, on_customer_keys_changed)
    router.include_router(build_byok_router(byok))
    router.include_router(build_owner_router(KeyOwners(databases, roots, rotation, region)))
    # A move between regions has this kms call the source region's kms.
    router.include_router(build_key_move_router(KeyMoves(databases, keys, roots, moves_client)))
    if isinstance(provider, LocalKeyProvider):
        router.include_router(build_backup_key_router(provider, roots, region))
    return router
