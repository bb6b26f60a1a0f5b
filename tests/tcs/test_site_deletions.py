"""A deleted site is purged when its grace period ends, not a second before, and a purge cut
short (kms down) finishes on a later pass; time is a settable clock, so no test sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from settable_clock import SettableClock
from tenantry.platform.change_feed import ChangeFeed
from tenantry.platform.client import ServiceResponse
from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.tenant_context import context_signer
from tenantry.platform.topology import DAY_SECONDS, load_topology
from tenantry.services.tcs.catalog import SCHEMA, Catalog
from tenantry.services.tcs.site_deletions import SiteDeletions


@dataclass
class FakeKms:
    """kms as tcs's client sees it: destroys a tenant's keys, or is down."""

    down: bool = False
    destroyed: list[str] = field(default_factory=list)

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        assert (callee, method, route) == ("kms", "POST", "/internal/kms/data-key/destroy")
        if self.down:
            return ServiceResponse(503, {}, b'{"error": "unavailable"}')
        self.destroyed.append(str(kwargs["tenant_id"]))
        return ServiceResponse(200, {}, b'{"destroyed": 2}')


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    engine = SqliteBackend(tmp_path).open(SCHEMA, GLOBAL_SHARD)
    yield Catalog(engine, load_topology())
    engine.dispose()


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def kms() -> FakeKms:
    return FakeKms()


@pytest.fixture
def deletions(
    catalog: Catalog, kms: FakeKms, clock: SettableClock, tmp_path: Path
) -> SiteDeletions:
    signer = context_signer(ensure_service_key(tmp_path, "tcs"))
    return SiteDeletions(catalog, ChangeFeed(), kms, signer, clock=clock)  # type: ignore[arg-type]


def _status(catalog: Catalog, site: str) -> str:
    found = catalog.by_site(site)
    assert found is not None
    return found.status


async def test_a_deleted_site_is_purged_when_its_grace_ends_and_not_before(
    catalog: Catalog, deletions: SiteDeletions, kms: FakeKms, clock: SettableClock
) -> None:
    doomed = catalog.create("doomed-site", "eu")
    kept = catalog.create("kept-site", "eu")
    _tenant, purge_at = deletions.delete("doomed-site")
    assert purge_at == clock.now + 14 * DAY_SECONDS  # the default `site_grace_days`
    clock.now += 14 * DAY_SECONDS - 1
    assert await deletions.purge_due() == 0
    assert kms.destroyed == [] and _status(catalog, "doomed-site") == "deleted"
    clock.now += 1
    assert await deletions.purge_due() == 1
    assert kms.destroyed == [doomed.cloud_id]
    assert _status(catalog, "doomed-site") == "purged"
    assert _status(catalog, "kept-site") == "active" and kept.cloud_id not in kms.destroyed
    assert await deletions.purge_due() == 0  # purged once only
    with pytest.raises(ApiError) as refused:
        deletions.undelete("doomed-site")
    assert refused.value.code == "site_purged"


async def test_an_undeleted_site_is_never_purged(
    catalog: Catalog, deletions: SiteDeletions, kms: FakeKms, clock: SettableClock
) -> None:
    catalog.create("back-site", "us")
    deletions.delete("back-site")
    clock.now += DAY_SECONDS
    assert deletions.undelete("back-site").status == "active"
    clock.now += 30 * DAY_SECONDS
    assert await deletions.purge_due() == 0
    assert kms.destroyed == []
    # Deleted again later, the grace starts again from then.
    deletions.delete("back-site")
    clock.now += 13 * DAY_SECONDS
    assert await deletions.purge_due() == 0


async def test_a_purge_kms_missed_is_finished_later_and_cannot_be_undone_meanwhile(
    catalog: Catalog, deletions: SiteDeletions, kms: FakeKms, clock: SettableClock
) -> None:
    tenant = catalog.create("stuck-site", "au")
    deletions.delete("stuck-site")
    clock.now += 15 * DAY_SECONDS
    kms.down = True
    assert await deletions.purge_due() == 0  # postponed, not lost
    assert _status(catalog, "stuck-site") == "purging"
    with pytest.raises(ApiError) as refused:
        deletions.undelete("stuck-site")
    assert refused.value.code == "site_purged"
    kms.down = False
    assert await deletions.purge_due() == 1
    assert kms.destroyed == [tenant.cloud_id]
    assert _status(catalog, "stuck-site") == "purged"
    assert await deletions.purge("stuck-site") is None  # purged already
