"""The checkpoint signer rests while no event arrives: an append wakes it, and the grown tree is
signed once the checkpoint pause since the first growth has passed, not on a poll."""

from __future__ import annotations

import uuid
from pathlib import Path

from tenantry.platform.audit.events import Actor, AuditEvent
from tenantry.platform.audit.note import Checkpoint
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.audit.models import SCHEMA
from tenantry.services.audit.store import AuditStore

SHARD = "eu-1"


def test_an_append_wakes_the_signer_which_signs_after_the_pause(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path)
    backend.migrate(SCHEMA, SHARD)
    databases = Databases(SCHEMA, backend)
    wakes: list[int] = []
    signed: list[Checkpoint] = []

    def sign(checkpoint: Checkpoint) -> str:
        signed.append(checkpoint)
        return checkpoint.text()

    store = AuditStore(databases, "eu", [SHARD], sign, on_grown=lambda: wakes.append(1))
    try:
        assert store.signing_due_in(30.0) is None  # nothing grew: the loop rests
        assert store.sign_grown() == 0

        tenant = TenantContext(str(uuid.uuid4()), "site", "eu", SHARD, "active")
        event = AuditEvent("login", "account", Actor("account", "account")).wire()
        with tenant_scope(tenant):
            assert store.append([event]) == [0]
            assert wakes == [1]
            due_in = store.signing_due_in(30.0)
            assert due_in is not None and 0 < due_in <= 30.0  # signed within the pause
            assert store.append([event]) == [0]  # a redelivery grows nothing, wakes nobody
            assert wakes == [1]

        assert store.sign_grown() == 1
        assert [checkpoint.size for checkpoint in signed] == [1]
        assert store.signing_due_in(30.0) is None
        assert store.sign_grown() == 0  # signed once: the next pass finds nothing
    finally:
        databases.dispose()
