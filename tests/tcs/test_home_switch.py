"""A move's switch in the catalog: a site's home shard changes only to a real shard of its own
region, and only while the shard it was moved from is still its home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantry.platform.errors import ApiError
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import load_topology
from tenantry.services.tcs.catalog import SCHEMA, Catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    backend = SqliteBackend(tmp_path)
    backend.migrate(SCHEMA, GLOBAL_SHARD)
    engine = backend.open(SCHEMA, GLOBAL_SHARD)
    yield Catalog(engine, load_topology())
    engine.dispose()


def test_the_home_switches_and_the_edges_hear_of_it(catalog: Catalog) -> None:
    site = catalog.create("mover", "eu")
    other = {"eu-1": "eu-2", "eu-2": "eu-1"}[site.shard]
    seen, _ = catalog.changes_after(0)
    moved = catalog.set_home("mover", site.shard, other)
    assert (moved.shard, moved.region, moved.status) == (other, "eu", "active")
    latest, changed = catalog.changes_after(seen)
    assert [c["site"] for c in changed] == ["mover"] and latest > seen


@pytest.mark.parametrize(
    ("to_shard", "from_is_home", "code"),
    [
        ("eu-9", True, "unknown_shard"),
        ("us-1", True, "shard_in_other_region"),
        (None, False, "home_changed"),
    ],
)
def test_a_switch_is_refused(
    catalog: Catalog, to_shard: str | None, from_is_home: bool, code: str
) -> None:
    site = catalog.create("mover", "eu")
    other = {"eu-1": "eu-2", "eu-2": "eu-1"}[site.shard]
    from_shard = site.shard if from_is_home else other
    with pytest.raises(ApiError) as refused:
        catalog.set_home("mover", from_shard, to_shard or other)
    assert refused.value.code == code
    assert catalog.by_site("mover") == site
    with pytest.raises(ApiError) as unknown:
        catalog.set_home("nobody-here", site.shard, other)
    assert unknown.value.code == "unknown_site"
