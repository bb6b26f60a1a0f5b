"""The pages service's operator routes (never forwarded by the edge): background resealing."""

from __future__ import annotations

from fastapi import APIRouter

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.reseal import ResealBatch, ResealRequest, reseal_router
from tenantry.platform.storage.databases import Databases
from tenantry.services.pages.reseal import reseal_batch

PREFIX = "/internal/pages"


def build_internal_router(databases: Databases, data_keys: DataKeys) -> APIRouter:
    """Routes an operator calls with the tenant's signed context."""

    def batch(keys: TenantKeys, body: ResealRequest) -> ResealBatch:
        with databases.session() as session:
            return reseal_batch(session, keys, body.cursor, body.limit)

    return reseal_router(PREFIX, data_keys, batch)
