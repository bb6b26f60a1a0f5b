"""The move fence on a SQLite shard database of the issues service: a moving tenant's writes
are captured (capturing) or refused as 503 `tenant_moving` (frozen, moved), whatever code path
makes them, and never taken for a conflict; its reads, and its neighbour's writes, go on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tenantry.cli.move_databases import ServiceDatabase, open_database
from tenantry.cli.tenant_rows import tenant_tables
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.platform.topology import load_topology
from tenantry.services.issues import store
from tenantry.services.issues.models import SCHEMA

MOVING = TenantContext("tenant-moving", "moving", "eu", "eu-1", "active")
NEIGHBOUR = TenantContext("tenant-neighbour", "neighbour", "eu", "eu-1", "active")


@pytest.fixture
def shard(tmp_path: Path) -> Iterator[tuple[Databases, ServiceDatabase]]:
    backend = SqliteBackend(tmp_path)
    backend.migrate(SCHEMA, "eu-1")
    databases = Databases(SCHEMA, backend)
    mover = open_database(tmp_path, load_topology(None), "issues", "eu-1", tenant_tables(SCHEMA))
    mover.install_fence()
    mover.install_fence()  # idempotent
    yield databases, mover
    databases.dispose()
    mover.dispose()


def _state(mover: ServiceDatabase, state: str) -> None:
    with mover.writer.begin() as connection:
        connection.execute(text("DELETE FROM tenantry_moves"))
        connection.execute(
            text("INSERT INTO tenantry_moves VALUES (:t, 'move-1', :s)"),
            {"t": MOVING.cloud_id, "s": state},
        )


KEY = DataKey(1, bytes(32))
KEYS = TenantKeys(KEY, {1: KEY})


def _create(databases: Databases, tenant: TenantContext, key: str) -> None:
    with tenant_scope(tenant), databases.session() as session:
        store.create_project(session, KEYS, key, "name")


def _projects(databases: Databases, tenant: TenantContext) -> list[str]:
    with tenant_scope(tenant), databases.session() as session:
        return [p.key for p in store.list_projects(session, KEYS)]


def test_writes_are_captured_while_copying(shard: tuple[Databases, ServiceDatabase]) -> None:
    databases, mover = shard
    _create(databases, MOVING, "BEFORE")
    _state(mover, "capturing")
    _create(databases, MOVING, "DURING")
    _create(databases, NEIGHBOUR, "THEIRS")
    with mover.snapshot.begin() as connection:
        captured = connection.execute(
            text("SELECT tenant_id, table_name, row_key FROM tenantry_move_changes")
        ).all()
    assert [(t, n, json.loads(k)) for t, n, k in captured] == [
        (MOVING.cloud_id, "projects", [MOVING.cloud_id, "DURING"])
    ]


@pytest.mark.parametrize("state", ["frozen", "moved"])
def test_a_fenced_tenant_cannot_write_but_reads_and_its_neighbour_writes(
    shard: tuple[Databases, ServiceDatabase], state: str
) -> None:
    databases, mover = shard
    _create(databases, MOVING, "OPS")
    _state(mover, state)
    # create_project takes an IntegrityError for a key taken meanwhile: the fence is not one.
    with pytest.raises(ApiError) as refused:
        _create(databases, MOVING, "NEW")
    assert (refused.value.status, refused.value.code) == (503, "tenant_moving")
    assert refused.value.headers["Retry-After"] == "1"
    with pytest.raises(ApiError), tenant_scope(MOVING), databases.session() as session:
        store.delete_project(session, "OPS")
    assert _projects(databases, MOVING) == ["OPS"]
    _create(databases, NEIGHBOUR, "THEIRS")
    assert _projects(databases, NEIGHBOUR) == ["THEIRS"]
