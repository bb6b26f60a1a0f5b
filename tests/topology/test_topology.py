"""The topology file: its default, placement by where users are, and refusal of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.platform.topology import TopologyError, load_topology


def test_default_has_three_regions_with_two_zones_and_two_shards_each() -> None:
    topology = load_topology()
    assert set(topology.regions) == {"us", "eu", "au"}
    for region in topology.regions.values():
        assert len(region.zones) == 2
        assert len(region.shards) == 2
        assert {shard.zone for shard in region.shards} == set(region.zones)


@pytest.mark.parametrize(
    ("users", "region"),
    [
        ({"DE": 40, "US": 3}, "eu"),
        ({"US": 10, "DE": 9}, "us"),
        ({"AU": 5, "NZ": 5, "US": 9}, "au"),
        ({}, "us"),
        ({"ZZ": 50, "FR": 1}, "us"),
    ],
)
def test_placement_follows_most_users(users: dict[str, int], region: str) -> None:
    assert load_topology().region_for_users(users) == region


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[regions.us]\nzones=[]\n",
        "[regions.us]\nzones=['a']\nshards=[{name='x', zone='b'}]\n",
        "[regions.US]\nzones=['a']\nshards=[{name='x', zone='a'}]\n",
        "not toml [",
    ],
)
def test_bad_topology_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(text)
    with pytest.raises(TopologyError):
        load_topology(path)


ONE_REGION = '[regions.eu]\nzones = ["eu-a"]\nshards = [{ name = "eu-1", zone = "eu-a" }]\n'


def test_edge_ports_are_read_per_region(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(ONE_REGION + "[edge]\nports = { eu = 8443 }\n[edge.limits]\n")
    assert load_topology(path).edge_ports == {"eu": 8443}
    assert load_topology().edge_ports == {}


@pytest.mark.parametrize(
    ("ports", "reason"),
    [
        ("{ us = 8443 }", "'us', which is not a region"),
        ("{ eu = 0 }", "not a port"),
        ("{ eu = 70000 }", "not a port"),
        ('{ eu = "8443" }', "not a port"),
        ("{ eu = true }", "not a port"),
    ],
)
def test_bad_edge_ports_are_refused(tmp_path: Path, ports: str, reason: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(ONE_REGION + f"[edge]\nports = {ports}\n")
    with pytest.raises(TopologyError, match=reason):
        load_topology(path)


def test_two_edges_on_one_port_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    two = (
        ONE_REGION + '[regions.us]\nzones = ["us-a"]\nshards = [{ name = "us-1", zone = "us-a" }]\n'
    )
    path.write_text(two + "[edge]\nports = { eu = 8443, us = 8443 }\n")
    with pytest.raises(TopologyError, match="more than one region"):
        load_topology(path)
