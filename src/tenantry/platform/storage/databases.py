"""One service's databases across shards, reached through tenant-scoped sessions.

A service builds one `Databases` at start-up and opens every session through it, so a handler
never chooses a shard or a tenant: both come from the request's tenant context.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

from sqlalchemy import Engine

from tenantry.platform.context import require_tenant
from tenantry.platform.storage.backend import GLOBAL_SHARD, StorageBackend, check_name
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.tenant_session import TenantSession, tenant_session


class Databases:
    """Engines of one service, one per shard, opened lazily and shared by all threads.

    The first use of a shard opens it through the backend, which checks (on SQLite: brings)
    its schema at the service's head revision.
    """

    def __init__(self, schema: ServiceSchema, backend: StorageBackend) -> None:
        self.schema = schema
        self.service = check_name("service", schema.service)
        self._backend = backend
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def session(self) -> AbstractContextManager[TenantSession]:
        """A session for the current tenant on the tenant's own shard."""
        tenant = require_tenant()
        return tenant_session(self.engine_for(tenant.shard))

    def global_session(self) -> AbstractContextManager[TenantSession]:
        """A session for the current tenant on the service's single, non-sharded database."""
        require_tenant()
        return tenant_session(self.engine_for(GLOBAL_SHARD))

    def engine_for(self, shard: str) -> Engine:
        """The engine of `shard`, opened (its schema checked current) on first use."""
        engine = self._engines.get(shard)
        if engine is not None:
            return engine
        with self._lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = self._backend.open(self.schema, check_name("shard", shard))
                self._engines[shard] = engine
            return engine

    def dispose(self) -> None:
        """Close every pooled connection (at shutdown, or before files are moved)."""
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.dispose()
