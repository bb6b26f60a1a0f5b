"""Counting views, expiring viewers, and delivering pages' outbox, on the run's backend.

Each view id counts once however often it arrives; a day's viewers are dropped once the day is
past `VIEWER_DAYS` (its counts stay); one tenant's expiry and erasure never touch another's;
views whose delivery fails stay in pages' outbox with their ids and are delivered later.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from backends import fresh_databases
from settable_clock import SettableClock
from tenantry.platform.background import Idle
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage import Databases
from tenantry.services.analytics import store
from tenantry.services.analytics.models import SCHEMA, PageViewer, ViewReceipt
from tenantry.services.analytics.retention import VIEWER_DAYS, Retention, day_of, viewers_since
from tenantry.services.pages.models import SCHEMA as PAGES_SCHEMA
from tenantry.services.pages.models import ViewOutboxRow
from tenantry.services.pages.views import PageViews

DAY = 86_400.0
START = datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp()
PAGE = "a" * 32
OTHER_PAGE = "b" * 32
ALICE, BOB = "1" * 32, "2" * 32


def _tenant(cloud_id: str) -> TenantContext:
    return TenantContext(
        cloud_id=cloud_id, site=f"site-{cloud_id}", region="eu", shard="eu-1", status="active"
    )


A, B = _tenant("tenant-a"), _tenant("tenant-b")


@pytest.fixture
def databases(tmp_path: Path, storage_backend: str) -> Iterator[Databases]:
    with fresh_databases(SCHEMA, tmp_path) as dbs:
        yield dbs


def _views(*spec: tuple[str, str | None, float]) -> list[store.View]:
    return [
        store.View(secrets.token_hex(16), page, "ENG", account, day_of(at).isoformat())
        for page, account, at in spec
    ]


def _count(
    databases: Databases, tenant: TenantContext, views: list[store.View], now: float
) -> store.Counted:
    today = day_of(now)
    with tenant_scope(tenant), databases.session() as session:
        return store.count_views(
            session, views, today.isoformat(), viewers_since(today).isoformat()
        )


def _days(databases: Databases, tenant: TenantContext, page: str, at: float) -> dict[str, Any]:
    day = day_of(at)
    with tenant_scope(tenant), databases.session() as session:
        return store.page_days(session, page, day, day)[0]


def test_each_view_counts_once_and_viewers_once_a_day(databases: Databases) -> None:
    views = _views(
        (PAGE, ALICE, START), (PAGE, ALICE, START + 60), (PAGE, BOB, START), (PAGE, None, START)
    )
    first = _count(databases, A, [*views, views[0]], START)  # a repeat inside the batch too
    assert (first.counted, first.repeated, first.viewers) == (4, 0, 2)
    again = _count(databases, A, views, START + 5)  # the whole batch delivered again
    assert (again.counted, again.repeated, again.viewers) == (0, 4, 0)
    assert _days(databases, A, PAGE, START) == {
        "day": day_of(START).isoformat(),
        "views": 4,
        "unique_viewers": 2,
    }
    next_day = _count(databases, A, _views((PAGE, ALICE, START + DAY)), START + DAY)
    assert next_day.viewers == 1  # a new day, a new viewer
    # A view arriving after its day's viewers were let go counts as a view, not a viewer.
    late = START + (VIEWER_DAYS + 1) * DAY
    counted = _count(databases, A, _views((OTHER_PAGE, ALICE, START)), late)
    assert (counted.counted, counted.viewers) == (1, 0)
    assert _days(databases, A, OTHER_PAGE, START)["unique_viewers"] == 0
    # The other tenant sees none of it.
    assert _days(databases, B, PAGE, START)["views"] == 0
    with tenant_scope(B), databases.session() as session:
        assert store.top_pages(session, "ENG", day_of(START), day_of(late), 10) == []


def test_viewers_and_receipts_expire_but_counts_stay_and_erasure_is_per_tenant(
    databases: Databases,
) -> None:
    clock = SettableClock(START)
    retention = Retention(databases, "eu", ["eu-1"], clock)
    for tenant in (A, B):
        retention.note("eu-1", tenant.cloud_id, tenant.site)
        _count(databases, tenant, _views((PAGE, ALICE, START), (PAGE, BOB, START)), START)
    assert retention.expire_now() == 0  # nothing is due yet

    clock.now = START + VIEWER_DAYS * DAY  # the last day the viewers are kept
    assert retention.expire_now() == 0
    with tenant_scope(A), databases.session() as session:
        assert store.forget_viewer(session, ALICE) == 1  # erasure: A's Alice only
    with tenant_scope(B), databases.session() as session:
        accounts = {row.account_id for row in session.rows(select(PageViewer.account_id))}
        assert accounts == {ALICE, BOB}

    clock.now = START + (VIEWER_DAYS + 1) * DAY  # viewers go, receipts stay a day longer
    assert retention.expire_now() == 1 + 2
    clock.now = START + (VIEWER_DAYS + 2) * DAY
    assert retention.expire_now() == 2 * 2
    for tenant in (A, B):
        with tenant_scope(tenant), databases.session() as session:
            assert session.rows(select(PageViewer.account_id)).all() == []
            assert session.rows(select(ViewReceipt.view_id)).all() == []
        assert _days(databases, tenant, PAGE, START)["views"] == 2
        assert _days(databases, tenant, PAGE, START)["unique_viewers"] == 2
    clock.now += 120  # past the notes' grace: nothing left, so the notes go
    retention.expire_now()
    assert retention.noted("eu-1") == []


class _Analytics:
    """Stands in for tcs and analytics: refuses deliveries while `down`, records the rest."""

    def __init__(self) -> None:
        self.down = True
        self.delivered: list[list[dict[str, Any]]] = []

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        if callee == "tcs":
            return ServiceResponse(200, {}, b'{"context": "signed"}')
        if self.down:
            raise OSError("analytics is down")
        self.delivered.append(kwargs["json"]["views"])
        return ServiceResponse(200, {}, b'{"counted": 1}')


def _refusing(_shard: str) -> Any:
    raise OperationalError("INSERT", {}, Exception("disk I/O error"))


class _Verifier:
    def verify(self, _token: str, _now: float) -> TenantContext:
        return A


def test_views_wait_in_the_outbox_while_analytics_is_down(
    tmp_path: Path, storage_backend: str
) -> None:
    clock = SettableClock(START)
    analytics = _Analytics()
    with fresh_databases(PAGES_SCHEMA, tmp_path / "pages") as pages:
        views = PageViews(pages, analytics, _Verifier(), ["eu-1"], clock)  # type: ignore[arg-type]
        with tenant_scope(A):
            views.record(PAGE, "ENG", ALICE)
            views.record(PAGE, "ENG", BOB)
            views.record(PAGE, "ENG", "3" * 32)
        assert views.forget_account(A.cloud_id, "3" * 32) == 1  # erased while buffered
        assert views.pending() == 3
        engine_for = views._engine  # the database refuses one write: the views stay buffered
        views._engine = _refusing  # type: ignore[method-assign]
        with pytest.raises(OperationalError):
            views.flush_now()
        views._engine = engine_for  # type: ignore[method-assign]
        assert views.pending() == 3
        assert views.flush_now() == 3 and isinstance(views.flush_now(), Idle)
        assert asyncio.run(views.deliver_due()) == 0
        assert views.pending() == 3
        with tenant_scope(A), pages.session() as session:
            ids = sorted(str(r.view_id) for r in session.rows(select(ViewOutboxRow.view_id)))
        idle = asyncio.run(views.deliver_due())  # not due again until its back-off is over
        assert getattr(idle, "due_in", None) is not None and analytics.delivered == []

        analytics.down = False
        clock.now += 60
        assert asyncio.run(views.deliver_due()) == 3
        assert views.pending() == 0
        [batch] = analytics.delivered
        assert sorted(view["id"] for view in batch) == ids  # the ids made at view time
        assert sorted(view["account"] or "" for view in batch) == ["", ALICE, BOB]
