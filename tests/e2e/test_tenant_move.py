"""`tenantry tenant move SITE --shard S` on a live cloud: a site moves to the other shard of its
region while it keeps writing, through the edge, and its neighbour keeps writing too. No write
is lost or doubled, the site's data afterwards is what was written, the neighbour is
untouched; a move killed half-way finishes when run again, or is aborted with the site where it
was; a move to a shard that does not exist fails before anything is copied.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from backends import BACKEND
from tenantry.cli import tenant_move
from tenantry.cli.backup import BackupCommandError
from tenantry.cli.tenant_move import move_tenant

from .api import Site, eventually, signup
from .cloud import Cloud, tenantry
from .moving import NOTES, TENANTRY, Written, keep_writing, kill_when, rows_on, same, stored
from .service_calls import call_as

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(request: pytest.FixtureRequest, storage_backend: str) -> Iterator[Cloud]:
    """A cloud whose region `eu` has two shards: on SQLite the shared one; on PostgreSQL (whose
    shared cloud has one shard per region) one of this module's own, `eu` with both shards."""
    if BACKEND == "sqlite":
        yield request.getfixturevalue("cloud")
        return
    root = request.getfixturevalue("tmp_path_factory").mktemp("moves")
    built_in = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    config = root / "topology.toml"
    config.write_text(
        built_in.replace(', { name = "us-2", zone = "us-b" }', "").replace(
            ', { name = "au-2", zone = "au-b" }', ""
        )
    )
    running = Cloud.start(root / "data", config=config, timeout=180)
    try:
        yield running
    finally:
        running.stop()


def shard_of(cloud: Cloud, cloud_id: str) -> str:
    """The shard tcs names as the site's home."""
    listed = tenantry("tenant", "list", "--json", "--data-dir", str(cloud.data_dir))
    assert listed.returncode == 0, listed.stderr
    (shard,) = [s["shard"] for s in json.loads(listed.stdout) if s["cloud_id"] == cloud_id]
    return str(shard)


def _other_shard(cloud: Cloud, site: Site) -> tuple[str, str]:
    here = shard_of(cloud, site.cloud_id)
    return here, {"eu-1": "eu-2", "eu-2": "eu-1"}[here]


def _move(cloud: Cloud, site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return tenantry("tenant", "move", site.name, *args, "--data-dir", str(cloud.data_dir))


def test_a_site_moves_while_it_and_its_neighbour_write(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="move")
    neighbour = signup(cloud, region="eu", via="eu", prefix="move-nb")
    for each in (site, neighbour):
        each.create_project()
    from_shard, to_shard = _other_shard(cloud, site)
    stop = threading.Event()
    written, theirs = Written(), Written()
    carrier = site.create_issue("carries an attachment")["key"]
    written.summaries[carrier], written.comments[carrier] = "carries an attachment", []
    attached = site.request(
        "POST",
        f"/rest/issues/issues/{carrier}/attachments",
        files={"file": ("notes.txt", NOTES, "text/plain")},
    )
    assert attached.status_code == 201, attached.text
    writers = [
        threading.Thread(target=keep_writing, args=(site.via(cloud.http("eu")), stop, written)),
        threading.Thread(target=keep_writing, args=(neighbour.via(cloud.http("eu")), stop, theirs)),
    ]
    for writer in writers:
        writer.start()
    try:
        while len(written.summaries) < 5:
            time.sleep(0.05)
        moved = _move(cloud, site, "--shard", to_shard)
        reads = site.request("GET", "/rest/issues/issues", params={"limit": "5"})
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert f"moved from {from_shard} to {to_shard}" in moved.stdout
    assert reads.status_code == 200
    assert written.failures == [] and theirs.failures == []
    assert shard_of(cloud, site.cloud_id) == to_shard
    same(stored(site), written)
    same(stored(neighbour), theirs)

    # The site keeps working in its new home, through every edge; its blobs stayed in the
    # region's media store, and its data keys (which open every summary read above) moved.
    again = site.via(cloud.http("us"))
    assert again.create_issue("after the move")["summary"] == "after the move"
    files = site.request("GET", f"/rest/issues/issues/{carrier}/attachments").json()
    (notes,) = files["attachments"]
    assert cloud.http("eu").get(notes["download_url"]).content == NOTES
    more = again.request(
        "POST",
        f"/rest/issues/issues/{carrier}/attachments",
        files={"file": ("more.txt", NOTES, "text/plain")},
    )
    assert more.status_code == 201, more.text

    listed = tenantry("tenant", "moves", "--json", "--data-dir", str(cloud.data_dir))
    assert listed.returncode == 0, listed.stderr
    mine = [m for m in json.loads(listed.stdout) if m["site"] == site.name]
    assert [(m["from_shard"], m["to_shard"], m["phase"]) for m in mine] == [
        (from_shard, to_shard, "switched")
    ]

    # The move is in the site's audit log, which came along whole and goes on growing there.
    def moved_is_logged() -> bool:
        answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
        actions = [e["action"] for e in answer.json()["events"]] if answer.is_success else []
        return "tenant_moved" in actions and len(actions) > 1

    eventually("the move in the audit log", moved_is_logged, seconds=30)


def _start_move(cloud: Cloud, site: Site, to_shard: str) -> subprocess.Popen[str]:
    data = str(cloud.data_dir)
    return subprocess.Popen(
        [*TENANTRY, "tenant", "move", site.name, "--shard", to_shard, "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("phase", ["copying", "frozen", "switching"])
def test_a_killed_move_finishes_when_run_again(cloud: Cloud, phase: str) -> None:
    site = signup(cloud, region="eu", via="eu", prefix=f"move-kill-{phase}")
    site.create_project()
    written = Written()
    stop = threading.Event()
    stop.set()  # a few writes only
    keep_writing(site, stop, written)
    from_shard, to_shard = _other_shard(cloud, site)
    process = _start_move(cloud, site, to_shard)
    if not kill_when(cloud, site, process, phase):
        pytest.fail(f"the move ended before {phase}: {process.communicate()}")
    assert shard_of(cloud, site.cloud_id) in (from_shard, to_shard)
    same(stored(site), written)  # reads are served, whatever the phase
    moved = _move(cloud, site, "--shard", to_shard)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert shard_of(cloud, site.cloud_id) == to_shard
    same(stored(site), written)
    keep_writing(site, stop, written)
    same(stored(site), written)


def test_a_killed_move_is_aborted_with_the_site_where_it_was(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="move-abort")
    site.create_project()
    written = Written()
    stop = threading.Event()
    stop.set()
    keep_writing(site, stop, written)
    from_shard, to_shard = _other_shard(cloud, site)
    process = _start_move(cloud, site, to_shard)
    if not kill_when(cloud, site, process, "frozen"):
        pytest.fail(f"the move ended before it froze: {process.communicate()}")
    # Frozen with no move running: a write waits at the edge, then is refused, changing nothing.
    refused = site.request(
        "POST", "/rest/issues/issues", json={"project": "OPS", "summary": "x", "description": ""}
    )
    assert (refused.status_code, refused.json()["error"]) == (503, "tenant_moving")
    assert refused.headers["retry-after"] == "1"
    same(stored(site), written)
    aborted = _move(cloud, site, "--abort")
    assert aborted.returncode == 0, aborted.stdout + aborted.stderr
    assert shard_of(cloud, site.cloud_id) == from_shard
    keep_writing(site, stop, written)  # writes are taken again, where it was
    same(stored(site), written)
    assert _move(cloud, site, "--abort").returncode == 2  # nothing left to abort
    listed = tenantry("tenant", "moves", "--json", "--data-dir", str(cloud.data_dir))
    mine = [m for m in json.loads(listed.stdout) if m["site"] == site.name]
    assert [m["phase"] for m in mine] == ["aborted"]
    table = tenantry("tenant", "moves", "--data-dir", str(cloud.data_dir))
    row = next(line for line in table.stdout.splitlines() if site.name in line)
    assert "aborted" in row and from_shard in row and to_shard in row


def test_a_move_to_a_shard_that_does_not_exist_fails_cleanly(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="move-nowhere")
    site.create_project()
    before = shard_of(cloud, site.cloud_id)
    for shard, says in (("eu-9", "there is no shard 'eu-9'"), ("us-1", "is in region us, not eu")):
        refused = _move(cloud, site, "--shard", shard)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert says in refused.stderr and "Traceback" not in refused.stderr
    assert _move(cloud, site, "--shard", before).returncode == 2  # already there
    assert _move(cloud, site).returncode == 2  # no shard named
    no_limit = _move(cloud, site, "--shard", "eu-9", "--catch-up-seconds", "0")
    assert no_limit.returncode == 2 and "more than 0 seconds" in no_limit.stderr
    assert shard_of(cloud, site.cloud_id) == before
    assert site.create_issue("still here")["key"] == "OPS-1"
    assert not (cloud.data_dir / "moves" / "active" / f"{site.cloud_id}.json").exists()


def test_a_catch_up_that_does_not_converge_in_the_limit_stops_the_move_unfrozen(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each catch-up round finds more changes than fit in a freeze (as with a writer faster
    than the copy): after `[moves] catch_up_seconds` (here given as 0.5) the move stops, says
    why, and the site is served where it was, whole, with nothing of it left on the target."""
    site = signup(cloud, region="eu", via="eu", prefix="move-no-converge")
    site.create_project()
    written = Written()
    stop = threading.Event()
    stop.set()
    keep_writing(site, stop, written)
    here, there = _other_shard(cloud, site)
    real = tenant_move._catch_up
    rounds: list[int] = []

    def too_busy(*args: Any) -> int:
        rounds.append(real(*args))
        return tenant_move.SMALL_ROUND + 1

    monkeypatch.setattr(tenant_move, "_catch_up", too_busy)
    started = time.monotonic()
    with pytest.raises(BackupCommandError) as stopped:
        move_tenant(cloud.data_dir, site.name, there, lambda *_: None, catch_up_seconds=0.5)
    assert time.monotonic() - started < 30
    assert stopped.value.code == 1 and len(rounds) >= 2
    message = str(stopped.value)
    assert "did not converge in 0.5 s" in message and "served where it was" in message
    assert shard_of(cloud, site.cloud_id) == here
    assert set(rows_on(cloud, there, site.cloud_id).values()) == {0}
    listed = tenantry("tenant", "moves", "--json", "--data-dir", str(cloud.data_dir))
    (mine,) = [m for m in json.loads(listed.stdout) if m["site"] == site.name]
    assert mine["phase"] == "failed" and "catch-up" in mine["reason"]
    # tcs has forgotten the move: nothing may be handed to its target any more.
    record = call_as(
        cloud,
        "kms",
        "tcs",
        "GET",
        "/internal/tcs/tenants/by-cloud-id/{cloud_id}/move",
        params={"cloud_id": site.cloud_id},
    )
    assert record.status == 200 and record.json()["move"] is None
    keep_writing(site, stop, written)  # its writes are taken where it was
    same(stored(site), written)
