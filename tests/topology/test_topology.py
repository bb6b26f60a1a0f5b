"""The topology file: its default, placement by where users are, and refusal of bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.cli.plan import Layout, plan_processes
from tenantry.platform.guarded_http import HttpGuards
from tenantry.platform.topology import (
    EdgeLimits,
    PlacementError,
    TopologyError,
    load_topology,
)
from tenantry.services.edge.listener import edge_guards
from tenantry.services.edge.security_headers import SECURITY_HEADERS
from tenantry.services.registry import spec


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
        ({"ZW": 50, "FR": 1}, "us"),  # a country the table does not list: the default region
    ],
)
def test_placement_follows_most_users(users: dict[str, int], region: str) -> None:
    assert load_topology().region_for_users(users) == region


@pytest.mark.parametrize(
    ("users", "code"),
    [
        ({}, "no_expected_users"),
        ({"US": 0, "DE": 0}, "no_expected_users"),
        ({"ZZ": 50, "FR": 1}, "unknown_country"),
        ({"XX": 1}, "unknown_country"),
    ],
)
def test_placement_refuses_to_guess(users: dict[str, int], code: str) -> None:
    with pytest.raises(PlacementError) as refused:
        load_topology().region_for_users(users)
    assert refused.value.code == code


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


def test_an_edge_waits_ten_seconds_on_a_slow_client_unless_told_otherwise() -> None:
    limits = load_topology().edge_limits
    assert limits == EdgeLimits()
    assert (limits.head_timeout, limits.body_timeout, limits.connections_per_client) == (
        10.0,
        10.0,
        64,
    )
    guards = edge_guards(limits)
    assert (guards.head_seconds, guards.body_stall_seconds) == (10.0, 10.0)
    assert guards.connections_per_client == 64
    assert guards.answer_headers == SECURITY_HEADERS


def test_internal_listeners_have_the_same_deadlines_and_no_per_address_cap() -> None:
    guards = HttpGuards()
    assert (guards.head_seconds, guards.body_stall_seconds) == (10.0, 10.0)
    assert guards.connections_per_client is None


def test_the_edge_alone_gets_the_topology_s_guards(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(
        "[regions.us]\nzones=['a']\nshards=[{name='us-1', zone='a'}]\n"
        "[edge.limits]\nhead_timeout = 2.5\nbody_timeout = 3\nconnections_per_client = 0\n"
    )
    limits = load_topology(path).edge_limits
    assert (limits.head_timeout, limits.body_timeout, limits.connections_per_client) == (2.5, 3, 0)
    guards = edge_guards(limits)
    assert (guards.head_seconds, guards.body_stall_seconds) == (2.5, 3.0)
    assert guards.connections_per_client is None  # 0: no cap

    class Runtime:
        topology = load_topology(path)

    assert spec("edge").listener_guards(Runtime()) == guards  # type: ignore[arg-type]
    assert spec("issues").listener_guards(Runtime()) == HttpGuards()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "limits",
    [
        "head_timeout = 0",
        "body_timeout = -1",
        "head_timeout = 'soon'",
        "body_timeout = true",
        "connections_per_client = -1",
        "connections_per_client = 1.5",
    ],
)
def test_bad_edge_deadlines_and_caps_are_refused(tmp_path: Path, limits: str) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(
        f"[regions.us]\nzones=['a']\nshards=[{{name='us-1', zone='a'}}]\n[edge.limits]\n{limits}\n"
    )
    with pytest.raises(TopologyError, match=r"\[edge.limits\]"):
        load_topology(path)


def test_backups_run_unless_the_topology_turns_them_off(tmp_path: Path) -> None:
    assert load_topology(None).backup.enabled
    path = tmp_path / "t.toml"
    path.write_text(ONE_REGION + "[backup]\nenabled = false\n")
    topology = load_topology(path)
    assert not topology.backup.enabled
    for layout in Layout:
        assert all("backup" not in p.services for p in plan_processes(topology, layout))
    assert any("backup" in process.services for process in plan_processes(load_topology(None)))


@pytest.mark.parametrize("value", ['"no"', "0", "[]"])
def test_a_backup_switch_that_is_not_true_or_false_is_refused(tmp_path: Path, value: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(ONE_REGION + f"[backup]\nenabled = {value}\n")
    with pytest.raises(TopologyError, match="enabled must be true or false"):
        load_topology(path)


def test_moves_keep_the_old_copy_a_day_and_give_a_catch_up_thirty_seconds(tmp_path: Path) -> None:
    assert load_topology().moves.keep_source_hours == 24
    assert load_topology().moves.catch_up_seconds == 30
    path = tmp_path / "topology.toml"
    regions = ONE_REGION
    path.write_text(regions + "[moves]\nkeep_source_hours = 0\ncatch_up_seconds = 2.5\n")
    moves = load_topology(path).moves
    assert (moves.keep_source_seconds, moves.catch_up_seconds) == (0, 2.5)
    for bad in (
        "keep_source_hours = -1",
        'keep_source_hours = "a day"',
        "catch_up_seconds = 0",
        "catch_up_seconds = true",
        "keep_sources = 3",
    ):
        path.write_text(regions + f"[moves]\n{bad}\n")
        with pytest.raises(TopologyError, match=r"\[moves\]"):
            load_topology(path)
