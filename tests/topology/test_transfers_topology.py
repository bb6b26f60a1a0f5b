"""`[transfers]` in the topology: the default's legal bases, directional pairs, and refusal of
bad settings with a message naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.platform.topology import (
    ADEQUACY,
    NONE,
    SCC,
    Topology,
    TopologyError,
    load_topology,
)

_REGIONS = """
[regions.us]
zones = ["us-a"]
shards = [{ name = "us-1", zone = "us-a" }]
[regions.eu]
zones = ["eu-a"]
shards = [{ name = "eu-1", zone = "eu-a" }]
"""


def _load(tmp_path: Path, transfers: str) -> Topology:
    path = tmp_path / "topology.toml"
    path.write_text(transfers + _REGIONS)
    return load_topology(path)


def test_default_topology_gives_every_pair_of_regions_a_basis_that_permits() -> None:
    topology = load_topology()
    regions = list(topology.regions)
    for source in regions:
        for destination in regions:
            if source != destination:
                assert topology.transfers.basis(source, destination) in (ADEQUACY, SCC)
    assert topology.transfers.default == SCC
    assert topology.transfers.flush_seconds == 30.0


def test_pairs_are_directional_and_unlisted_pairs_take_the_default(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(
        _REGIONS
        + '[transfers]\ndefault = "none"\nflush_seconds = 0.5\n'
        + '[transfers.pairs.eu]\nus = "adequacy"\n'
    )
    loaded = load_topology(path)
    assert loaded.transfers.basis("eu", "us") == ADEQUACY
    assert loaded.transfers.basis("us", "eu") == NONE
    assert loaded.transfers.flush_seconds == 0.5
    path.write_text(_REGIONS)  # no [transfers] at all: standard contractual clauses
    assert load_topology(path).transfers.basis("us", "eu") == SCC


@pytest.mark.parametrize(
    ("transfers", "message"),
    [
        ('[transfers]\ndefault = "maybe"\n', "default 'maybe' is not a legal basis"),
        ('[transfers]\ndefault = "SCC"\n', "is not a legal basis"),
        ('[transfers.pairs.eu]\nus = "contracts"\n', "us = 'contracts' is not a legal basis"),
        ('[transfers.pairs.mars]\nus = "scc"\n', "names 'mars', which is not a region"),
        ('[transfers.pairs.eu]\nmars = "scc"\n', "names 'mars', which is not a region"),
        ('[transfers.pairs.eu]\neu = "scc"\n', "is no transfer"),
        ("[transfers.pairs]\neu = 3\n", "must map regions to a legal basis"),
        ("[transfers]\npairs = 3\n", "must be a table of source regions"),
        ("[transfers]\nflush_seconds = 0\n", "flush_seconds must be a number"),
        ("[transfers]\nflush_seconds = true\n", "flush_seconds must be a number"),
        ("[transfers]\nbasis = 'scc'\n", "has no setting 'basis'"),
        ("transfers = 'scc'\n", "[transfers] must be a table"),
    ],
)
def test_bad_transfer_settings_are_refused(tmp_path: Path, transfers: str, message: str) -> None:
    with pytest.raises(TopologyError) as refused:
        _load(tmp_path, transfers)
    assert message in str(refused.value)
