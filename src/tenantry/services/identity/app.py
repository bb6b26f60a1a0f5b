"""Assemble the identity process: accounts on the global database, behind the platform layers."""

from __future__ import annotations

from fastapi import FastAPI

from tenantry.platform.app import create_service_app
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.audit.tcs_contexts import contexts_from_tcs
from tenantry.platform.client import ServiceClient
from tenantry.platform.data_keys import DataKeys, data_key_max_age
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.account_changes import AccountChanges, build_feed_router
from tenantry.services.identity.account_erasures import AccountErasures
from tenantry.services.identity.internal_routes import build_internal_router
from tenantry.services.identity.key_server import PREFIX as KEY_SERVER_PREFIX
from tenantry.services.identity.key_server import build_key_router
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import SCHEMA, AuditOutboxRow
from tenantry.services.identity.passwords import PasswordWork
from tenantry.services.identity.privacy_routes import build_privacy_router
from tenantry.services.identity.routes import build_router
from tenantry.services.identity.user_tokens import LIFETIME_SECONDS as USER_TOKEN_LIFETIME
from tenantry.services.identity.user_tokens import UserTokens


def create_app(runtime: ServiceRuntime) -> FastAPI:
    """The identity ASGI app for a runtime loaded by `tenantry serve identity`."""
    databases = Databases(SCHEMA, storage_backend(runtime.topology, runtime.data_dir))
    client = ServiceClient(runtime.signer, runtime.directory)
    user_tokens = UserTokens(TokenSigner(runtime.key, lifetime=USER_TOKEN_LIFETIME))
    data_keys = DataKeys(client, max_age=data_key_max_age())
    notices = KmsNotices(databases, client, sorted(runtime.topology.regions))
    contexts = contexts_from_tcs(client, TenantContextVerifier(runtime.keys))
    audit = AuditOutbox(AuditOutboxRow, databases.engine_for, [GLOBAL_SHARD], client, contexts)
    changes = AccountChanges(databases)
    erasures = AccountErasures(databases, changes, audit)
    grace = runtime.topology.retention.site_grace_seconds
    return create_service_app(
        runtime,
        [
            build_router(
                databases,
                client,
                user_tokens,
                data_keys,
                notices,
                changes,
                PasswordWork(),
                audit,
                account_grace_seconds=grace,
            ),
            build_feed_router(changes),
            build_key_router(runtime.keys),
            build_internal_router(databases, data_keys),
            build_privacy_router(databases, data_keys, notices, changes, audit),
        ],
        loops=[notices.loop, erasures.loop, audit.loop],
        clients=[client],
        databases=[databases],
        public_prefixes=(KEY_SERVER_PREFIX,),
    )
