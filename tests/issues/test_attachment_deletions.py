"""A deleted issue's attachments go from media even when media is down at the time.

The issues routes run on a bare app with the real outbox and the real media client; only the
HTTP client underneath stands in for media (up, down, or answering 404), and tcs is a table.
The real media and tcs are exercised in tests/e2e/test_attachment_deletions.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from issues_harness import (
    FixedDataKeys,
    HeaderContextMiddleware,
    StandInAccounts,
    harness_cursors,
)
from settable_clock import SettableClock
from tenantry.platform.background import Idle
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.storage import Databases
from tenantry.platform.topology import DAY_SECONDS
from tenantry.services.issues import attachment_deletions
from tenantry.services.issues.attachment_deletions import (
    ATTEMPT_SECONDS,
    MAX_BACKOFF_SECONDS,
    NOTE_GRACE_SECONDS,
    AttachmentDeletions,
    backoff,
)
from tenantry.services.issues.media_files import MediaFiles
from tenantry.services.issues.models import attachment_cleanup_tenants
from tenantry.services.issues.routes import build_router
from tenantry.services.issues.trash_purges import TrashPurges
from tenantry.services.issues.trash_routes import build_trash_router

SHARD = "eu-1"


class StandInMediaClient:
    """Answers the issues service's calls to media as media would, or fails as a down one."""

    def __init__(self) -> None:
        self.down = False
        self.delete_status = 204
        self.deleted: list[tuple[str, str]] = []
        self.calls: list[dict[str, Any]] = []

    async def call(self, callee: str, method: str, route: str, **kw: Any) -> ServiceResponse:
        assert callee == "media"
        self.calls.append({"method": method, "route": route, **kw})
        if self.down:
            raise ApiError(503, "upstream_unavailable", "the media service did not answer")
        if route == "/internal/media/tokens":
            body = {"token": f"tok-{kw['json']['collection']}", "expires_at": 1}
            return ServiceResponse(201, {}, orjson.dumps(body))
        if route == "/internal/media/collections/{collection}/trash":  # the issue's trashing
            self.calls.pop()
            return ServiceResponse(204, {}, b"")
        assert (method, route) == ("DELETE", "/internal/media/collections/{collection}")
        if self.delete_status == 204:
            self.deleted.append((kw["tenant_id"], kw["params"]["collection"]))
        return ServiceResponse(self.delete_status, {}, b"{}")


class StandInTcs:
    """Signed contexts by site; a site left out is unknown, one marked deleted was purged."""

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.down = False

    async def by_site(self, site: str) -> tuple[TenantContext, str] | None:
        if self.down:
            raise ApiError(503, "tcs_unavailable", "tcs answered 500")
        if site not in self.status:
            return None
        tenant = TenantContext(site, site, "eu", SHARD, self.status[site])
        return tenant, f"context-of-{site}"


@pytest.fixture
def media() -> StandInMediaClient:
    return StandInMediaClient()


@pytest.fixture
def tcs() -> StandInTcs:
    found = StandInTcs()
    found.status = {"tenant-a": "active", "tenant-b": "active"}
    return found


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def deletions(
    databases: Databases, media: StandInMediaClient, tcs: StandInTcs, clock: SettableClock
) -> AttachmentDeletions:
    files = MediaFiles(media)  # type: ignore[arg-type]  # answers `call` as the client would
    return AttachmentDeletions(databases, files, tcs, "eu", [SHARD], clock=clock)


@pytest.fixture
def client(databases: Databases, deletions: AttachmentDeletions) -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)
    include_issue_routes(app, databases, deletions)
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def include_issue_routes(
    app: FastAPI, databases: Databases, deletions: AttachmentDeletions
) -> None:
    """The issue and trash routes, whose purges go through `deletions`."""
    media = deletions._media  # the same stand-in media client
    purges = TrashPurges(databases, deletions, media, "eu", [SHARD], trash_seconds=DAY_SECONDS)
    cursors = harness_cursors()
    app.include_router(build_router(databases, FixedDataKeys(), StandInAccounts(), cursors, purges))
    app.include_router(build_trash_router(databases, FixedDataKeys(), media, cursors, purges))


def headers(tenant: str) -> dict[str, str]:
    return {"x-test-tenant": tenant, "x-test-user": f"user-of-{tenant}", "x-test-shard": SHARD}


def make_issue(client: TestClient, tenant: str) -> None:
    project = {"key": "OPS", "name": "Ops"}
    made = client.post("/rest/issues/projects", json=project, headers=headers(tenant))
    assert made.status_code == 201, made.text
    issue = {"project": "OPS", "summary": "s", "description": ""}
    made = client.post("/rest/issues/issues", json=issue, headers=headers(tenant))
    assert made.status_code == 201, made.text


def delete_issue(client: TestClient, tenant: str) -> None:
    """Delete the issue, then purge it from the trash: its attachments are to go then."""
    deleted = client.delete("/rest/issues/issues/OPS-1", headers=headers(tenant))
    assert deleted.status_code == 204, deleted.text
    gone = client.get("/rest/issues/issues/OPS-1", headers=headers(tenant))
    assert gone.status_code == 404
    (item,) = client.get("/rest/issues/trash", headers=headers(tenant)).json()["items"]
    purged = client.delete(f"/rest/issues/trash/{item['id']}", headers=headers(tenant))
    assert purged.status_code == 204, purged.text


def collections(deletions: AttachmentDeletions, tenant: str) -> list[str]:
    return [row["collection"] for row in deletions.pending(SHARD, tenant)]


def noted(databases: Databases) -> list[str]:
    with databases.engine_for(SHARD).connect() as connection:
        rows = connection.execute(attachment_cleanup_tenants.select()).all()
    return sorted(row.cloud_id for row in rows)


async def run_due(deletions: AttachmentDeletions) -> int | Idle:
    return await deletions.deliver_due()


def test_with_media_up_the_collection_goes_at_once(
    client: TestClient, media: StandInMediaClient, deletions: AttachmentDeletions
) -> None:
    make_issue(client, "tenant-a")
    delete_issue(client, "tenant-a")
    assert media.deleted == [("tenant-a", "issues:OPS-1")]
    assert collections(deletions, "tenant-a") == []
    # Every call to media in the request is bounded, so a stuck media cannot hold it.
    assert media.calls and all(c["attempt_seconds"] == ATTEMPT_SECONDS for c in media.calls)
    token_call = media.calls[0]
    assert token_call["json"]["actions"] == ["delete"]
    assert token_call["user"].account_id == "user-of-tenant-a"


def test_media_down_keeps_the_deletion_until_media_is_back(
    client: TestClient,
    media: StandInMediaClient,
    deletions: AttachmentDeletions,
    clock: SettableClock,
    databases: Databases,
) -> None:
    make_issue(client, "tenant-a")
    media.down = True
    delete_issue(client, "tenant-a")  # the delete itself still succeeds
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]
    [row] = deletions.pending(SHARD, "tenant-a")
    assert row["attempts"] == 1 and row["next_attempt_at"] == clock.now + backoff(1)
    assert noted(databases) == ["tenant-a"]

    # Still down: the loop tries again once the pause has passed, and waits longer after.
    clock.now += backoff(1)
    assert client.portal.call(run_due, deletions) == 0  # type: ignore[union-attr]
    [row] = deletions.pending(SHARD, "tenant-a")
    assert row["attempts"] == 2 and row["next_attempt_at"] == clock.now + backoff(2)

    # Back, but the pause has not passed: nothing is tried yet, and the loop rests until then.
    media.down = False
    calls = len(media.calls)
    rest = client.portal.call(run_due, deletions)  # type: ignore[union-attr]
    assert rest == Idle(pytest.approx(backoff(2)))
    assert len(media.calls) == calls and media.deleted == []

    clock.now += backoff(2)
    assert client.portal.call(run_due, deletions) == 1  # type: ignore[union-attr]
    assert media.deleted == [("tenant-a", "issues:OPS-1")]
    assert collections(deletions, "tenant-a") == []
    # The loop acts for the tenant with the context tcs signed, and with no user.
    last = media.calls[-1]
    assert last["tenant_context"] == "context-of-tenant-a" and last["user"] is None

    # The tenant's note stays a while (a deletion may be committing), then goes; with nothing
    # left to do the loop rests until woken.
    assert client.portal.call(run_due, deletions) == Idle(None)  # type: ignore[union-attr]
    assert noted(databases) == ["tenant-a"]
    clock.now += NOTE_GRACE_SECONDS + 1
    assert client.portal.call(run_due, deletions) == Idle(None)  # type: ignore[union-attr]
    assert noted(databases) == []


def test_a_failure_to_write_down_the_outcome_still_answers_204_and_the_loop_finishes(
    client: TestClient,
    media: StandInMediaClient,
    deletions: AttachmentDeletions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's delete has committed: the request must not turn into a 500 after it."""
    make_issue(client, "tenant-a")

    def database_gone(collection: str) -> None:
        raise OperationalError("DELETE FROM attachment_deletions", {}, OSError("disk I/O error"))

    with monkeypatch.context() as patched:
        patched.setattr(deletions, "_done", database_gone)
        delete_issue(client, "tenant-a")
    assert media.deleted == [("tenant-a", "issues:OPS-1")]
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]  # still due

    assert client.portal.call(run_due, deletions) == 1  # type: ignore[union-attr]
    assert collections(deletions, "tenant-a") == []
    assert media.deleted == [("tenant-a", "issues:OPS-1")] * 2  # deleting twice does no harm


def test_a_404_from_media_counts_as_done(
    client: TestClient,
    media: StandInMediaClient,
    deletions: AttachmentDeletions,
    clock: SettableClock,
) -> None:
    make_issue(client, "tenant-a")
    media.down = True
    delete_issue(client, "tenant-a")
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]
    media.down, media.delete_status = False, 404
    clock.now += MAX_BACKOFF_SECONDS
    assert client.portal.call(run_due, deletions) == 1  # type: ignore[union-attr]
    assert collections(deletions, "tenant-a") == []


def test_media_refusing_keeps_the_deletion(
    client: TestClient, media: StandInMediaClient, deletions: AttachmentDeletions
) -> None:
    make_issue(client, "tenant-a")
    media.delete_status = 500
    delete_issue(client, "tenant-a")
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]


def test_each_tenant_is_served_as_itself_and_a_purged_one_is_dropped(
    client: TestClient,
    media: StandInMediaClient,
    tcs: StandInTcs,
    deletions: AttachmentDeletions,
    clock: SettableClock,
    databases: Databases,
) -> None:
    for tenant in ("tenant-a", "tenant-b"):
        make_issue(client, tenant)
    media.down = True
    for tenant in ("tenant-a", "tenant-b"):
        delete_issue(client, tenant)
    # Each tenant sees only its own deletion.
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]
    assert collections(deletions, "tenant-b") == ["issues:OPS-1"]
    media.down = False
    tcs.status["tenant-b"] = "purged"
    clock.now += MAX_BACKOFF_SECONDS
    calls = len(media.calls)
    assert client.portal.call(run_due, deletions) == 1  # type: ignore[union-attr]
    assert media.deleted == [("tenant-a", "issues:OPS-1")]
    assert all(c["tenant_id"] == "tenant-a" for c in media.calls[calls:])
    assert collections(deletions, "tenant-b") == []  # purged: dropped, media never asked
    assert noted(databases) == ["tenant-a"]


def test_an_unknown_site_is_dropped_and_tcs_down_postpones(
    client: TestClient,
    media: StandInMediaClient,
    tcs: StandInTcs,
    deletions: AttachmentDeletions,
    clock: SettableClock,
) -> None:
    make_issue(client, "tenant-a")
    media.down = True
    delete_issue(client, "tenant-a")
    media.down, tcs.down = False, True
    clock.now += MAX_BACKOFF_SECONDS
    assert client.portal.call(run_due, deletions) == 0  # type: ignore[union-attr]
    assert collections(deletions, "tenant-a") == ["issues:OPS-1"]  # kept for later
    tcs.down = False
    del tcs.status["tenant-a"]
    assert client.portal.call(run_due, deletions) == 0  # type: ignore[union-attr]
    assert collections(deletions, "tenant-a") == [] and media.deleted == []


def test_a_failed_delete_records_nothing(
    client: TestClient, media: StandInMediaClient, deletions: AttachmentDeletions
) -> None:
    make_issue(client, "tenant-a")
    missing = client.delete("/rest/issues/issues/OPS-9", headers=headers("tenant-a"))
    assert missing.status_code == 404
    other = client.delete("/rest/issues/issues/OPS-1", headers=headers("tenant-b"))
    assert other.status_code == 404
    assert collections(deletions, "tenant-a") == [] and collections(deletions, "tenant-b") == []
    assert media.calls == []


def test_the_loop_retries_on_its_own(
    databases: Databases, media: StandInMediaClient, tcs: StandInTcs, monkeypatch: Any
) -> None:
    """Started and stopped with the app, the loop finishes what the request could not."""
    monkeypatch.setattr(attachment_deletions, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(attachment_deletions, "FIRST_BACKOFF_SECONDS", 0.05)
    deletions = AttachmentDeletions(
        databases,
        MediaFiles(media),  # type: ignore[arg-type]
        tcs,
        "eu",
        [SHARD],
    )
    app = FastAPI(on_startup=[deletions.loop.start], on_shutdown=[deletions.loop.stop])
    install_error_handlers(app)
    include_issue_routes(app, databases, deletions)
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        make_issue(client, "tenant-a")
        media.down = True
        delete_issue(client, "tenant-a")
        assert media.deleted == []
        media.down = False
        deadline = time.monotonic() + 30
        while collections(deletions, "tenant-a") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert collections(deletions, "tenant-a") == []
    assert media.deleted == [("tenant-a", "issues:OPS-1")]


def test_the_backoff_grows_to_its_cap() -> None:
    pauses = [backoff(n) for n in range(1, 12)]
    assert pauses == sorted(pauses) and pauses[0] < pauses[-1] == MAX_BACKOFF_SECONDS


def test_the_trash_is_purged_when_its_time_comes_and_its_files_go_through_the_outbox(
    databases: Databases,
    media: StandInMediaClient,
    deletions: AttachmentDeletions,
    clock: SettableClock,
) -> None:
    """Time is the settable clock: an item stays restorable for `trash_seconds`, not a second
    less, then the loop erases it and hands its media to the outbox."""
    purges = TrashPurges(
        databases,
        deletions,
        MediaFiles(media),
        "eu",
        [SHARD],
        DAY_SECONDS,
        clock=clock,  # type: ignore[arg-type]
    )
    app = FastAPI()
    install_error_handlers(app)
    cursors = harness_cursors()
    app.include_router(build_router(databases, FixedDataKeys(), StandInAccounts(), cursors, purges))
    app.include_router(
        build_trash_router(databases, FixedDataKeys(), MediaFiles(media), cursors, purges)  # type: ignore[arg-type]
    )
    app.add_middleware(HeaderContextMiddleware)
    with TestClient(app, raise_server_exceptions=False) as client:
        for tenant in ("tenant-a", "tenant-b"):
            make_issue(client, tenant)
        assert client.delete("/rest/issues/issues/OPS-1", headers=headers("tenant-a")).is_success
        clock.now += DAY_SECONDS - 1
        assert client.portal.call(purges.purge_due) == 0  # type: ignore[union-attr]
        trashed = client.get("/rest/issues/trash", headers=headers("tenant-a")).json()["items"]
        assert [item["kind"] for item in trashed] == ["issue"]
        clock.now += 1
        assert client.portal.call(purges.purge_due) == 1  # type: ignore[union-attr]
        assert client.get("/rest/issues/trash", headers=headers("tenant-a")).json()["items"] == []
        # Its collection is in the outbox, delivered as any purge's, as tenant-a alone.
        assert client.portal.call(run_due, deletions) == 1  # type: ignore[union-attr]
        assert media.deleted == [("tenant-a", "issues:OPS-1")]
        restore = client.post(
            f"/rest/issues/trash/{trashed[0]['id']}/restore", headers=headers("tenant-a")
        )
        assert restore.status_code == 404 and restore.json()["error"] == "trash_item_not_found"
        # The neighbour's issue was never touched.
        assert client.get("/rest/issues/issues/OPS-1", headers=headers("tenant-b")).is_success
