"""`up`'s PostgreSQL provisioning: makes missing databases, repeats safely, serves tcs's tables."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from postgres_server import SERVER, drop_databases_and_roles
from tenantry.cli.provision import ProvisioningFailed, provision_databases, service_databases
from tenantry.platform.storage.choose import postgres_backend
from tenantry.platform.topology import Topology, load_topology


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    tag = uuid.uuid4().hex[:10]
    prefix, names = f"tp{tag}", [f"tenantry_prov_{tag}_{n}" for n in ("global", "a1", "a2")]
    path = tmp_path / "topology.toml"
    path.write_text(
        f'[global]\ndsn = "{SERVER}/{names[0]}"\n[postgres]\nrole_prefix = "{prefix}"\n'
        '[regions.a]\nzones = ["a-a"]\n'
        f'shards = [{{ name = "a-1", zone = "a-a", dsn = "{SERVER}/{names[1]}" }},'
        f' {{ name = "a-2", zone = "a-a", dsn = "{SERVER}/{names[2]}" }}]\n'
    )
    try:
        yield load_topology(path)
    finally:
        drop_databases_and_roles(names, prefix)


def test_every_service_database_is_provisioned_once_and_again_safely(topology: Topology) -> None:
    assert [(s, shard) for s, shard, _ in service_databases(topology)] == [
        ("identity", "global"),
        ("tcs", "global"),
        ("issues", "a-1"),
        ("issues", "a-2"),
    ]
    created = provision_databases(topology)
    assert len(created) == 3
    assert provision_databases(topology) == []  # a second `up` finds everything in place

    backend = postgres_backend(topology)
    for service, shard, _ in service_databases(topology):
        backend.engine(service, shard).dispose()  # the start-up role check passes

    # tcs's catalog is a plain table: its role reads and writes it, serial numbers included.
    tcs = backend.engine("tcs", "global")
    try:
        with tcs.begin() as c:
            c.exec_driver_sql(
                "INSERT INTO tenants (cloud_id, site, region, shard, status, created_at)"
                " VALUES ('c1', 's1', 'a', 'a-1', 'active', 0)"
            )
            c.exec_driver_sql("INSERT INTO changes (cloud_id, site, at) VALUES ('c1', 's1', 0)")
            c.exec_driver_sql("UPDATE tenants SET status = 'suspended'")
            assert c.exec_driver_sql("SELECT count(*) FROM changes").scalar_one() == 1
        # ...but not identity's accounts next door, nor create tables of its own.
        for statement in ("SELECT * FROM identity.accounts", "CREATE TABLE tcs.extra (x int)"):
            with tcs.connect() as c, pytest.raises(DBAPIError, match="permission denied"):
                c.exec_driver_sql(statement)
    finally:
        tcs.dispose()


def test_an_unreachable_server_is_a_clear_failure(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    dsn = "postgresql://admin:s3cret@127.0.0.1:1"
    path.write_text(
        f'[global]\ndsn = "{dsn}/g"\n[regions.a]\nzones = ["a-a"]\n'
        f'shards = [{{ name = "a-1", zone = "a-a", dsn = "{dsn}/s" }}]\n'
    )
    started = time.monotonic()
    with pytest.raises(ProvisioningFailed, match="cannot connect to PostgreSQL database 'g'") as e:
        provision_databases(load_topology(path))
    assert "s3cret" not in str(e.value)
    assert time.monotonic() - started < 15


def test_a_topology_without_dsns_provisions_nothing() -> None:
    assert provision_databases(load_topology()) == []
