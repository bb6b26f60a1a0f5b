"""A move's switch in the catalog: a site's home shard changes only to a real shard of its own
region, only while the shard it was moved from is still its home, and only to the target the
move registered before it copied anything (which kms and media read)."""

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
    catalog.begin_move("mover", site.shard, other)
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
    catalog.begin_move("mover", site.shard, other)
    with pytest.raises(ApiError) as refused:
        catalog.set_home("mover", from_shard, to_shard or other)
    assert refused.value.code == code
    assert catalog.by_site("mover") == site
    with pytest.raises(ApiError) as unknown:
        catalog.set_home("nobody-here", site.shard, other)
    assert unknown.value.code == "unknown_site"


def test_a_site_moves_to_another_region_only_when_the_switch_names_it(catalog: Catalog) -> None:
    site = catalog.create("mover", "eu")
    catalog.begin_move("mover", site.shard, "us-1", to_region="us")
    moved = catalog.set_home("mover", site.shard, "us-1", to_region="us", moved={"rows": 3})
    assert (moved.region, moved.shard) == ("us", "us-1")
    assert catalog.record("mover") is not None and catalog.record("mover")["pinned"] is False


def test_a_pinned_site_leaves_its_region_only_when_unpinned(catalog: Catalog) -> None:
    site = catalog.create("pinned-here", "eu", pinned=True)
    catalog.begin_move("pinned-here", site.shard, "us-1", to_region="us")
    with pytest.raises(ApiError) as refused:
        catalog.set_home("pinned-here", site.shard, "us-1", to_region="us")
    assert refused.value.code == "site_pinned"
    assert catalog.by_site("pinned-here") == site
    assert catalog.pinned("pinned-here")
    # Within its region it moves freely, and stays pinned.
    other = {"eu-1": "eu-2", "eu-2": "eu-1"}[site.shard]
    catalog.begin_move("pinned-here", site.shard, other)
    assert catalog.set_home("pinned-here", site.shard, other).shard == other
    assert catalog.pinned("pinned-here")
    catalog.begin_move("pinned-here", other, "us-1", to_region="us")
    moved = catalog.set_home("pinned-here", other, "us-1", to_region="us", unpin=True)
    assert (moved.region, moved.shard) == ("us", "us-1")
    assert not catalog.pinned("pinned-here")


def test_a_move_is_registered_before_its_switch_and_forgotten_after(catalog: Catalog) -> None:
    site = catalog.create("mover", "eu")
    other = {"eu-1": "eu-2", "eu-2": "eu-1"}[site.shard]
    assert catalog.move_of("mover")["move"] is None
    # No switch without a registered move, nor to another target than the one registered.
    with pytest.raises(ApiError) as unregistered:
        catalog.set_home("mover", site.shard, other)
    assert unregistered.value.code == "move_not_registered"
    catalog.begin_move("mover", site.shard, "us-2", to_region="us")
    assert catalog.move_by_cloud_id(site.cloud_id)["move"] == {
        "to_region": "us",
        "to_shard": "us-2",
    }
    with pytest.raises(ApiError) as elsewhere:
        catalog.set_home("mover", site.shard, "us-1", to_region="us")
    assert elsewhere.value.code == "move_not_registered"
    # A stopped move is forgotten; registering checks what the switch would.
    assert catalog.end_move("mover")["move"] is None
    for args, code in (
        ((other, "eu-2" if other == "eu-1" else "eu-1"), "home_changed"),
        ((site.shard, site.shard), "same_shard"),
        ((site.shard, "us-1"), "shard_in_other_region"),
        ((site.shard, "eu-9"), "unknown_shard"),
    ):
        with pytest.raises(ApiError) as refused:
            catalog.begin_move("mover", *args)
        assert refused.value.code == code, args
    catalog.begin_move("mover", site.shard, other)
    assert catalog.set_home("mover", site.shard, other).shard == other
    assert catalog.move_of("mover")["move"] is None
    with pytest.raises(ApiError) as unknown:
        catalog.move_by_cloud_id("no-such-tenant")
    assert unknown.value.code == "unknown_tenant"
