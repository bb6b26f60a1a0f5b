"""Which region protects each PostgreSQL server, and what the others are told: a server ships
its WAL through one archive_command, so regions sharing it cannot each have a stanza of their
own there. Read from the topology alone: no server is reached."""

from __future__ import annotations

from pathlib import Path

from tenantry.platform.topology import Topology, load_topology
from tenantry.services.backup.engines.pgbackrest.cloud import (
    engine_for,
    home_of,
    owned_engine,
    owned_stanzas,
    owners,
)

SHARED = "postgresql://postgres@db-main:5432"
OWN = "postgresql://postgres@db-au:5433"


def _topology(tmp_path: Path) -> Topology:
    path = tmp_path / "topology.toml"
    path.write_text(
        f'[global]\ndsn = "{SHARED}/tenantry_global"\n'
        '[regions.us]\nzones = ["us-a", "us-b"]\n'
        f'shards = [{{ name = "us-1", zone = "us-a", dsn = "{SHARED}/us_1" }}]\n'
        '[regions.eu]\nzones = ["eu-a", "eu-b"]\n'
        f'shards = [{{ name = "eu-1", zone = "eu-a", dsn = "{SHARED}/eu_1" }}]\n'
        '[regions.au]\nzones = ["au-a", "au-b"]\n'
        f'shards = [{{ name = "au-1", zone = "au-a", dsn = "{OWN}/au_1" }}]\n'
        '[placement]\ndefault_region = "us"\n'
    )
    return load_topology(path)


def test_the_default_region_protects_a_shared_server_and_every_database_on_it(
    tmp_path: Path,
) -> None:
    topology = _topology(tmp_path)
    assert owners(topology) == {"pg-db-main-5432": "us", "pg-db-au-5433": "au"}
    (shared,) = owned_stanzas(topology, "us")
    assert set(shared.databases) == {
        ("us-1", "us_1"),
        ("global", "tenantry_global"),
        ("eu-1", "eu_1"),
    }
    assert owned_stanzas(topology, "eu") == ()
    assert owned_engine(tmp_path, topology, "eu", None) is None
    au = owned_engine(tmp_path, topology, "au", None)
    assert au is not None
    assert au.settings.home == home_of(tmp_path, "au")
    assert [r.name for r in au.settings.repositories] == ["au-a", "au-b"]


def test_a_region_on_another_regions_server_is_told_its_backups_leave_it(tmp_path: Path) -> None:
    topology = _topology(tmp_path)
    eu = engine_for(tmp_path, topology, "eu", lambda _region: None)
    assert [owner for owner, _ in eu.parts] == ["us"]
    (note,) = eu.notes["eu-1"]
    assert "also holds databases of us" in note
    assert "give eu a PostgreSQL server of its own" in note
    for region in ("us", "global", "au"):
        engine = engine_for(tmp_path, topology, region, lambda _region: None)
        assert not any(engine.notes.values()), region
