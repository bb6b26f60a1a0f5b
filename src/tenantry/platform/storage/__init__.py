"""Tenant-scoped relational storage: the only way service code reaches its database.

Services declare models with `TenantOwned`, get engines from a `StorageBackend`, and open
sessions through `Databases`, whose sessions add the current tenant to every statement.
The `tenant_session()` function lives in `tenantry.platform.storage.tenant_session` (it is not
re-exported here, so the submodule of the same name stays reachable).
"""

from tenantry.platform.storage.backend import GLOBAL_SHARD, StorageBackend
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.migrations import SchemaNotCurrentError, ServiceSchema
from tenantry.platform.storage.model import TenantOwned, UtcDateTime, utc_now
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.storage.tenant_session import (
    CrossTenantError,
    RawSqlError,
    TenantIsolationError,
    TenantSession,
)

__all__ = [
    "GLOBAL_SHARD",
    "CrossTenantError",
    "Databases",
    "RawSqlError",
    "SchemaNotCurrentError",
    "ServiceSchema",
    "SqliteBackend",
    "StorageBackend",
    "TenantIsolationError",
    "TenantOwned",
    "TenantSession",
    "UtcDateTime",
    "utc_now",
]
