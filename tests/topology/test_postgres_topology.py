"""PostgreSQL in the topology: DSNs for every database or none, and the backend they choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.platform.storage.choose import postgres_backend, storage_backend
from tenantry.platform.storage.postgres import PostgresBackend
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import Topology, TopologyError, load_topology

DSN = "postgresql://admin:s3cret@db.internal:5432"


def _write(
    tmp_path: Path, *, global_dsn: bool, shard_dsns: tuple[bool, bool], extra: str = ""
) -> Path:
    lines = [f'[global]\ndsn = "{DSN}/global"\n'] if global_dsn else []
    shards = []
    for n, has_dsn in enumerate(shard_dsns, start=1):
        dsn = f', dsn = "{DSN}/eu_{n}"' if has_dsn else ""
        shards.append(f'{{ name = "eu-{n}", zone = "eu-a"{dsn} }}')
    lines.append(f'[regions.eu]\nzones = ["eu-a"]\nshards = [{", ".join(shards)}]\n')
    path = tmp_path / "topology.toml"
    path.write_text("\n".join(lines) + extra)
    return path


def _postgres_topology(tmp_path: Path, extra: str = "") -> Topology:
    return load_topology(_write(tmp_path, global_dsn=True, shard_dsns=(True, True), extra=extra))


def test_a_topology_with_every_dsn_uses_postgresql(tmp_path: Path) -> None:
    topology = _postgres_topology(tmp_path)
    assert topology.uses_postgres
    assert topology.global_dsn == f"{DSN}/global"
    assert topology.shard("eu-2").dsn == f"{DSN}/eu_2"
    assert topology.role_prefix == "tenantry"


def test_the_default_topology_uses_sqlite(tmp_path: Path) -> None:
    topology = load_topology()
    assert not topology.uses_postgres
    backend = storage_backend(topology, tmp_path)
    assert isinstance(backend, SqliteBackend)
    assert backend.data_dir == tmp_path
    with pytest.raises(ValueError, match="no PostgreSQL"):
        postgres_backend(topology)


@pytest.mark.parametrize(
    ("global_dsn", "shard_dsns", "missing"),
    [
        (True, (True, False), "shard 'eu-2'"),
        (False, (True, True), "[global]"),
        (False, (False, True), "shard 'eu-1'"),
        (True, (False, False), "shard 'eu-1', shard 'eu-2'"),
    ],
)
def test_mixing_postgresql_and_sqlite_is_refused(
    tmp_path: Path, global_dsn: bool, shard_dsns: tuple[bool, bool], missing: str
) -> None:
    path = _write(tmp_path, global_dsn=global_dsn, shard_dsns=shard_dsns)
    with pytest.raises(TopologyError, match="every shard and \\[global\\]") as caught:
        load_topology(path)
    assert missing in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "extra",
    [
        '\n[postgres]\nrole_prefix = "Bad-Prefix"\n',
        '\n[postgres]\nrole_prefix = "a_prefix_long_enough_to_overflow_role_names"\n',
        "\n[postgres]\nrole_prefix = 7\n",
    ],
)
def test_bad_role_prefixes_are_refused(tmp_path: Path, extra: str) -> None:
    with pytest.raises(TopologyError, match="role_prefix"):
        _postgres_topology(tmp_path, extra)


@pytest.mark.parametrize("dsn", ["mysql://root@db/x", "sqlite:///x.db", "7", "postgres@db/x"])
def test_a_dsn_that_is_not_postgresql_is_refused(tmp_path: Path, dsn: str) -> None:
    path = tmp_path / "topology.toml"
    value = dsn if dsn == "7" else f'"{dsn}"'
    path.write_text(
        f'[regions.eu]\nzones = ["a"]\nshards = [{{ name = "eu-1", zone = "a", dsn = {value} }}]\n'
    )
    with pytest.raises(TopologyError, match="postgresql://"):
        load_topology(path)


def test_storage_backend_maps_global_and_shards_to_their_databases(tmp_path: Path) -> None:
    topology = _postgres_topology(tmp_path, '\n[postgres]\nrole_prefix = "acme"\n')
    backend = storage_backend(topology, tmp_path)
    assert isinstance(backend, PostgresBackend)
    assert backend.role_prefix == "acme"
    for service, shard, database in [
        ("identity", "global", "global"),
        ("tcs", "global", "global"),
        ("issues", "eu-1", "eu_1"),
        ("issues", "eu-2", "eu_2"),
    ]:
        url = backend.url(service, shard)
        assert url.database == database
        assert url.host == "db.internal"
        # Services log in as their own role, never with the administrator's credentials.
        assert url.username == f"acme_{service}"
        assert url.password is None
    with pytest.raises(KeyError):
        backend.url("issues", "us-1")


def test_the_pool_size_reaches_every_engine(tmp_path: Path) -> None:
    assert _postgres_topology(tmp_path).pool_size == 2
    topology = _postgres_topology(tmp_path, "\n[postgres]\npool_size = 5\n")
    assert postgres_backend(topology).pool_size == 5


@pytest.mark.parametrize("value", ["-1", "65", "true", '"2"', "1.5"])
def test_bad_pool_sizes_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(TopologyError, match="pool_size"):
        _postgres_topology(tmp_path, f"\n[postgres]\npool_size = {value}\n")
