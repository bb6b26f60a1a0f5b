"""Page analytics through a real cloud's edge: views counted per day with unique viewers, a
space's top pages, a view delivered twice counted once, bad ranges refused with their reason,
sites that never see each other's counts, an erased viewer's rows gone with the counts kept,
and views made while analytics is frozen counted once it is back."""

from __future__ import annotations

import os
import secrets
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backends import BACKEND

from .api import Site, add_account, signup, token_for
from .cloud import Cloud
from .service_calls import call_as, tenant_context
from .stored import shard_of, stored_rows

pytestmark = pytest.mark.e2e

HELLO = {
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}],
}
WAIT_SECONDS = 60.0


def _as(site: Site, token: str) -> Site:
    return Site(site.name, site.cloud_id, site.region, token, site.http)


def _site_with_pages(cloud: Cloud, prefix: str, titles: list[str]) -> tuple[Site, list[str]]:
    site = signup(cloud, region="eu", prefix=prefix)
    space = site.request("POST", "/rest/pages/spaces", json={"key": "ENG", "name": "Eng"})
    assert space.status_code == 201, space.text
    ids = []
    for title in titles:
        made = site.request(
            "POST", "/rest/pages/pages", json={"space": "ENG", "title": title, "body": HELLO}
        )
        assert made.status_code == 201, made.text
        ids.append(str(made.json()["id"]))
    return site, ids


def _view(site: Site, page_id: str, times: int = 1) -> None:
    for _ in range(times):
        read = site.request("GET", f"/rest/pages/pages/{page_id}")
        assert read.status_code == 200, read.text


def _stats(site: Site, page_id: str, **query: str) -> dict[str, Any]:
    answer = site.request("GET", f"/rest/analytics/pages/{page_id}", params=query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _counted(site: Site, page_id: str, views: int) -> dict[str, Any]:
    """The page's stats once they show `views` views (bounded wait: delivery is background)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        stats = _stats(site, page_id)
        if stats["views"] >= views or time.monotonic() > deadline:
            assert stats["views"] == views, stats
            return stats
        time.sleep(0.1)


def _error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def _viewer_rows(cloud: Cloud, site: Site) -> set[str]:
    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "analytics."
    rows = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "analytics.sqlite",
        f"SELECT account_id FROM {schema}page_viewers WHERE tenant_id = :id",  # noqa: S608
        id=site.cloud_id,
    )
    return {str(row[0]) for row in rows}


def test_views_unique_viewers_top_pages_isolation_and_erasure(cloud: Cloud) -> None:
    site, (runbook, faq) = _site_with_pages(cloud, "stats", ["Runbook", "FAQ"])
    member_id, member_email = add_account(site, "member")
    member = _as(site, token_for(site, member_email))
    _view(site, runbook, 3)
    _view(member, runbook, 2)
    _view(member, faq)

    today = datetime.now(UTC).date()
    stats = _counted(site, runbook, 5)
    assert stats["to"] == today.isoformat()
    assert stats["from"] == (today - timedelta(days=29)).isoformat()
    assert len(stats["days"]) == 30
    assert stats["days"][-1] == {"day": today.isoformat(), "views": 5, "unique_viewers": 2}
    assert all(day["views"] == 0 for day in stats["days"][:-1])
    _counted(site, faq, 1)
    one_day = _stats(member, runbook, **{"from": today.isoformat(), "to": today.isoformat()})
    assert [d["day"] for d in one_day["days"]] == [today.isoformat()]

    top = site.request("GET", "/rest/analytics/spaces/ENG")
    assert top.status_code == 200, top.text
    assert [(p["page"], p["views"]) for p in top.json()["pages"]] == [(runbook, 5), (faq, 1)]
    limited = site.request("GET", "/rest/analytics/spaces/ENG", params={"limit": "1"})
    assert [p["page"] for p in limited.json()["pages"]] == [runbook]

    # A delivery repeated (its answer lost) counts nothing twice; only pages may deliver.
    view = {"id": secrets.token_hex(16), "page": faq, "space": "ENG", "account": member_id}
    batch = {"views": [{**view, "at": time.time()}]}
    context = tenant_context(cloud, site)
    where = {"region": "eu", "tenant_context": context, "tenant_id": site.cloud_id}
    path = "/internal/analytics/views"
    first = call_as(cloud, "pages", "analytics", "POST", path, json=batch, **where)
    assert first.status == 200 and first.json()["counted"] == 1, first.body
    again = call_as(cloud, "pages", "analytics", "POST", path, json=batch, **where)
    assert again.status == 200 and again.json() == {"counted": 0, "repeated": 1, "new_viewers": 0}
    assert _stats(site, faq)["views"] == 2
    forged = call_as(cloud, "issues", "analytics", "POST", path, json=batch, **where)
    assert forged.status == 403, forged.body

    # Another site sees none of it: not by page id, not by space key, not with a token of A's.
    other, _ = _site_with_pages(cloud, "stats-other", [])
    theirs = _stats(other, runbook)
    assert theirs["views"] == 0 and all(d["unique_viewers"] == 0 for d in theirs["days"])
    their_top = other.request("GET", "/rest/analytics/spaces/ENG")
    assert their_top.status_code == 200 and their_top.json()["pages"] == []
    crossed = other.http.get(f"/rest/analytics/pages/{runbook}", headers=other.headers(site.token))
    assert crossed.status_code in (401, 403), crossed.text
    anonymous = site.http.get(
        f"/rest/analytics/pages/{runbook}", headers={"X-Tenantry-Site": site.name}
    )
    assert anonymous.status_code == 401, anonymous.text

    # Erasing the member takes its viewer rows out of analytics; the counts stay.
    assert member_id in _viewer_rows(cloud, site)
    erased = site.request("POST", "/rest/privacy/erasures", json={"account_id": member_id})
    assert erased.status_code == 201, erased.text
    stores = {entry["store"]: entry for entry in erased.json()["stores"]}
    assert "analytics" in stores, erased.text
    assert member_id not in _viewer_rows(cloud, site)
    after = _stats(site, runbook)
    assert after["days"][-1] == {"day": today.isoformat(), "views": 5, "unique_viewers": 2}


def test_bad_ranges_and_ids_are_refused_with_their_reason(cloud: Cloud) -> None:
    site, (page,) = _site_with_pages(cloud, "stats-bad", ["Page"])
    stats = f"/rest/analytics/pages/{page}"
    refused = {
        "invalid_date": [{"from": "2026-13-01"}, {"to": "2026-02-30"}, {"from": "yesterday"}],
        "invalid_range": [{"from": "2026-03-02", "to": "2026-03-01"}],
        "range_too_long": [{"from": "2020-01-01", "to": "2026-01-01"}],
    }
    for code, queries in refused.items():
        for query in queries:
            _error(site.request("GET", stats, params=query), 422, code)
            space = site.request("GET", "/rest/analytics/spaces/ENG", params=query)
            _error(space, 422, code)
    for limit in ("0", "101", "ten", "-1"):
        answer = site.request("GET", "/rest/analytics/spaces/ENG", params={"limit": limit})
        _error(answer, 422, "invalid_limit")
    _error(site.request("GET", "/rest/analytics/pages/not-a-page"), 404, "page_not_found")
    _error(site.request("GET", "/rest/analytics/spaces/eng"), 404, "space_not_found")
    year = site.request("GET", stats, params={"from": "2025-01-01", "to": "2025-12-31"})
    assert year.status_code == 200 and len(year.json()["days"]) == 365, year.text


def test_views_made_while_analytics_is_frozen_are_counted_once_it_is_back(
    fleet_cloud: Cloud,
) -> None:
    """Frozen is analytics's process alone: in the fleet layout, where it has one of its own."""
    cloud = fleet_cloud
    site, (page,) = _site_with_pages(cloud, "stats-frozen", ["Page"])
    _view(site, page)
    _counted(site, page, 1)

    analytics = cloud.pids()["analytics-eu"]
    os.kill(analytics, signal.SIGSTOP)
    try:
        started = time.monotonic()
        _view(site, page, 3)
        assert time.monotonic() - started < 3.0, "a page view waited for analytics"
        time.sleep(6.0)  # the first delivery times out: the views wait for a retry
    finally:
        os.kill(analytics, signal.SIGCONT)
    stats = _counted(site, page, 4)
    assert stats["days"][-1]["unique_viewers"] == 1
    time.sleep(2.0)  # a delivery that reached analytics while frozen and was retried ...
    assert _stats(site, page)["views"] == 4  # ... is not counted twice
