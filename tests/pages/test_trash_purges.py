"""A deleted page stays restorable for `[retention] trash_days`, then goes for good.

The pages and trash routes run on a bare app with the real store and the real purge loop; time
is a settable clock, so the grace passes without waiting. The routes through a real cloud are
exercised in tests/e2e/test_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backends import fresh_databases
from issues_harness import FixedDataKeys, HeaderContextMiddleware
from settable_clock import SettableClock
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.platform.topology import DAY_SECONDS
from tenantry.platform.trash_purges import NOTE_GRACE_SECONDS
from tenantry.services.pages.models import SCHEMA, Page, PageTerm, PageVersion, trash_tenants
from tenantry.services.pages.routes import build_router
from tenantry.services.pages.trash_purges import TrashPurges
from tenantry.services.pages.trash_routes import build_trash_router

SHARD = "eu-1"


class StandInViews:
    """Page views with no analytics to report them to."""

    def record(self, page_id: str, space_key: str, account_id: str) -> None:
        return None


@pytest.fixture
def databases(tmp_path: Path, storage_backend: str) -> Iterator[Databases]:
    with fresh_databases(SCHEMA, tmp_path) as dbs:
        yield dbs


def _doc(text: str) -> dict[str, Any]:
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    return {"type": "doc", "content": [paragraph]}


class Site:
    """A client acting as the admin of one tenant."""

    def __init__(self, client: TestClient, tenant: str) -> None:
        self.client = client
        self.tenant = tenant
        self.headers = {"x-test-tenant": tenant, "x-test-user": f"admin-of-{tenant}"}

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, f"/rest/pages{path}", headers=self.headers, **kwargs)

    def page(self, title: str, parent: str | None = None) -> str:
        body = {"space": "ENG", "title": title, "body": _doc(f"{title} ocelot words")}
        if parent is not None:
            body["parent"] = parent
        made = self.call("POST", "/pages", json=body)
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    def trash(self) -> list[str]:
        return [item["page_id"] for item in self.call("GET", "/trash").json()["items"]]

    def rows(self, databases: Databases, ids: list[str]) -> int:
        """How many rows of `ids` pages, their versions and their terms still hold."""
        tenant = TenantContext(self.tenant, self.tenant, "eu", SHARD, "active")
        found = 0
        with tenant_scope(tenant), databases.session() as session:
            for column in (Page.id, PageVersion.page_id, PageTerm.page_id):
                query = select(func.count()).select_from(column.table).where(column.in_(ids))
                found += int(session.rows(query).scalar_one())
        return found


def _notes(databases: Databases) -> int:
    with databases.engine_for(SHARD).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(trash_tenants)).scalar())


def test_a_deletion_is_purged_when_its_time_comes_and_a_restore_then_answers_404(
    databases: Databases,
) -> None:
    """A deletion stays whole and restorable for `trash_seconds`, not a second less; then the
    page, the pages deleted with it, their versions and search terms go, a page deleted below
    it earlier goes at its own time, a page restored meanwhile stays, and so does the
    neighbour's trash."""
    clock = SettableClock()
    purges = TrashPurges(databases, "eu", [SHARD], DAY_SECONDS, clock=clock)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(databases, FixedDataKeys(), purges, StandInViews()))  # type: ignore[arg-type]
    app.include_router(build_trash_router(databases, FixedDataKeys()))
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        site, neighbour = Site(client, "tenant-a"), Site(client, "tenant-b")
        for each in (site, neighbour):
            assert each.call("POST", "/spaces", json={"key": "ENG", "name": "Eng"}).is_success
        top = site.page("Top")
        saved = site.call(
            "PUT", f"/pages/{top}", json={"title": "Top", "body": _doc("again"), "version": 1}
        )
        assert saved.status_code == 200, saved.text
        child = site.page("Child", parent=top)
        grandchild = site.page("Grandchild", parent=child)
        alone = site.page("Alone", parent=top)  # deleted on its own, before its parent
        kept = site.page("Kept")  # deleted, then restored in time
        theirs = neighbour.page("Theirs")

        assert site.call("DELETE", f"/pages/{alone}").status_code == 204
        assert site.call("DELETE", f"/pages/{kept}").status_code == 204
        assert neighbour.call("DELETE", f"/pages/{theirs}").status_code == 204
        clock.now += 10
        assert site.call("DELETE", f"/pages/{top}").status_code == 204
        assert site.call("POST", f"/trash/{kept}/restore").status_code == 200

        clock.now += DAY_SECONDS - 11
        assert client.portal.call(purges.purge_due) == 0  # type: ignore[union-attr]
        assert sorted(site.trash()) == sorted([top, alone])
        clock.now += 1  # `alone` and the neighbour's page are a day old
        assert client.portal.call(purges.purge_due) == 2  # type: ignore[union-attr]
        assert site.trash() == [top] and neighbour.trash() == []
        assert site.rows(databases, [alone]) == 0
        before = site.rows(databases, [top, child, grandchild])
        assert before > 3 + 4  # 3 pages, 4 versions, and their terms

        clock.now += 10  # the deletion of `top` (with `child` and `grandchild`) is a day old
        assert client.portal.call(purges.purge_due) == 1  # type: ignore[union-attr]
        assert site.trash() == []
        assert site.rows(databases, [top, child, grandchild]) == 0
        for page_id in (top, child, grandchild, alone):
            restore = site.call("POST", f"/trash/{page_id}/restore")
            assert restore.status_code == 404, restore.text
            assert restore.json()["error"] == "trash_item_not_found"
            gone = site.call("GET", f"/pages/{page_id}")
            assert gone.status_code == 404, gone.text
        tree = site.call("GET", "/spaces/ENG/tree").json()
        assert top not in str(tree) and kept in str(tree)
        # The restored page was never touched, nor the neighbour's live pages or space.
        read = site.call("GET", f"/pages/{kept}")
        assert read.status_code == 200 and read.json()["title"] == "Kept"
        assert neighbour.call("GET", "/spaces/ENG/tree").status_code == 200

        # An empty trash lets its tenant's note go once the note is old enough, not before
        # (a deletion that noted it may not have committed yet).
        assert _notes(databases) == 0
        assert site.call("DELETE", f"/pages/{kept}").status_code == 204
        assert site.call("POST", f"/trash/{kept}/restore").status_code == 200
        assert client.portal.call(purges.purge_due) == 0  # type: ignore[union-attr]
        assert _notes(databases) == 1
        clock.now += NOTE_GRACE_SECONDS + 1
        assert client.portal.call(purges.purge_due) == 0  # type: ignore[union-attr]
        assert _notes(databases) == 0
