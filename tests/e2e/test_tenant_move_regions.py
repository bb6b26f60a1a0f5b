"""`tenantry tenant move SITE --region R` on a live cloud: a site moves from eu to us while it
keeps writing through the edge, and its neighbour in eu keeps writing too. No write is lost or
doubled, its data afterwards is what was written, the neighbour is untouched; its attachments
download from its new home, its summaries open (its data keys now under us's root key), and
the audit log says what moved where. A site pinned to its region at sign-up stays there unless
the move is told to unpin it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tenantry.cli.move_removal import remove_expired

from .api import Site, eventually, signup
from .cloud import Cloud, tenantry
from .moving import NOTES, TENANTRY, Written, keep_writing, kill_when, rows_on, same, stored
from .service_calls import call_as

pytestmark = pytest.mark.e2e


def _home(cloud: Cloud, cloud_id: str) -> tuple[str, str]:
    """The region and shard tcs names as the site's home."""
    listed = tenantry("tenant", "list", "--json", "--data-dir", str(cloud.data_dir))
    assert listed.returncode == 0, listed.stderr
    (home,) = [
        (s["region"], s["shard"]) for s in json.loads(listed.stdout) if s["cloud_id"] == cloud_id
    ]
    return home


def _move(cloud: Cloud, site: Site, *args: str) -> Any:
    return tenantry("tenant", "move", site.name, *args, "--data-dir", str(cloud.data_dir))


def _events(site: Site) -> list[dict[str, Any]]:
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    return list(answer.json()["events"]) if answer.is_success else []


def test_a_site_moves_to_another_region_while_it_and_its_neighbour_write(
    cloud: Cloud, storage_backend: str
) -> None:
    site = signup(cloud, users={"DE": 3}, via="eu", prefix="move-region")
    source = _home(cloud, site.cloud_id)[1]
    # A neighbour on the same shard (sign-ups go to the emptier shard of the region).
    for _attempt in range(3):
        neighbour = signup(cloud, users={"DE": 3}, via="eu", prefix="move-region-nb")
        if _home(cloud, neighbour.cloud_id)[1] == source:
            break
    assert site.region == neighbour.region == "eu"
    assert _home(cloud, neighbour.cloud_id)[1] == source
    for each in (site, neighbour):
        each.create_project()
    carrier = site.create_issue("carries an attachment")["key"]
    written, theirs = Written(), Written()
    written.summaries[carrier], written.comments[carrier] = "carries an attachment", []
    attached = site.request(
        "POST",
        f"/rest/issues/issues/{carrier}/attachments",
        files={"file": ("notes.txt", NOTES, "text/plain")},
    )
    assert attached.status_code == 201, attached.text
    stop = threading.Event()
    writers = [
        threading.Thread(target=keep_writing, args=(site.via(cloud.http("eu")), stop, written)),
        threading.Thread(target=keep_writing, args=(neighbour.via(cloud.http("eu")), stop, theirs)),
    ]
    for writer in writers:
        writer.start()
    try:
        while len(written.summaries) < 5:
            time.sleep(0.05)
        moved = _move(cloud, site, "--region", "us")
        reads = site.request("GET", "/rest/issues/issues", params={"limit": "5"})
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "(eu to us)" in moved.stdout and "blobs: " in moved.stdout
    assert reads.status_code == 200
    assert written.failures == [] and theirs.failures == []
    assert _home(cloud, site.cloud_id) == ("us", "us-1")
    assert _home(cloud, neighbour.cloud_id)[0] == "eu"
    # Every summary and comment reads back (each summary opens with the moved data keys).
    same(stored(site), written)
    same(stored(neighbour), theirs)

    # Its attachments are in us's media store now, and download through any edge.
    files = site.request("GET", f"/rest/issues/issues/{carrier}/attachments").json()
    (notes,) = files["attachments"]
    assert cloud.http("us").get(notes["download_url"]).content == NOTES
    assert any((cloud.data_dir / "media" / "us" / site.cloud_id).rglob("original"))
    # New writes and uploads land in the new home, through the edge of the old region too.
    again = site.via(cloud.http("eu"))
    assert again.create_issue("after the move")["summary"] == "after the move"
    more = again.request(
        "POST",
        f"/rest/issues/issues/{carrier}/attachments",
        files={"file": ("more.txt", NOTES, "text/plain")},
    )
    assert more.status_code == 201, more.text

    # The audit log says where it went, what moved and its size; its keys moved under us's root.
    def logged() -> bool:
        actions = {e["action"] for e in _events(site)}
        return {"tenant_moved", "data_keys_moved"} <= actions

    eventually("the move in the audit log", logged, seconds=30)
    (event,) = [e for e in _events(site) if e["action"] == "tenant_moved"]
    detail = event["detail"]
    assert (detail["from_region"], detail["to_region"]) == ("eu", "us")
    assert detail["moved"]["rows"] > 0 and detail["moved"]["blobs"] >= 1
    assert detail["moved"]["blob_bytes"] >= len(NOTES) and detail["moved"]["data_keys"] >= 1

    # The old copy in eu (rows of every service, data keys among them, and blobs) is kept
    # `[moves] keep_source_hours`, then removed, and the removal is in the site's audit log;
    # the neighbour on that shard keeps everything.
    old_blobs = cloud.data_dir / "media" / "eu" / site.cloud_id
    assert rows_on(cloud, source, site.cloud_id)["kms"] >= 1 and old_blobs.exists()
    theirs_before = rows_on(cloud, source, neighbour.cloud_id)
    listed = tenantry("tenant", "moves", "--remove-expired", "--data-dir", str(cloud.data_dir))
    assert listed.returncode == 0 and site.name not in listed.stderr, listed.stderr
    assert old_blobs.exists()  # not due yet
    removed = remove_expired(cloud.data_dir, now=time.time() + 25 * 3600)
    (mine,) = [m for m in removed if m["site"] == site.name]
    assert mine["source_removed"]["rows"] > 0 and mine["source_removed"]["blobs"]
    assert set(rows_on(cloud, source, site.cloud_id).values()) == {0}
    assert not old_blobs.exists()
    theirs_after = rows_on(cloud, source, neighbour.cloud_id)
    assert theirs_after.pop("audit") >= theirs_before.pop("audit")  # its log still grows
    assert theirs_after == theirs_before
    same(stored(neighbour), theirs)
    assert site.request("GET", f"/rest/issues/issues/{carrier}").status_code == 200
    assert cloud.http("us").get(notes["download_url"]).content == NOTES
    assert remove_expired(cloud.data_dir, now=time.time() + 25 * 3600) == []  # done once

    def removal_logged() -> bool:
        return "tenant_move_source_removed" in {e["action"] for e in _events(site)}

    eventually("the removal in the audit log", removal_logged, seconds=30)


def test_a_pinned_site_leaves_its_region_only_with_unpin(
    cloud: Cloud, storage_backend: str
) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="move-pinned")
    first_home = _home(cloud, site.cloud_id)[1]
    site.create_project()
    summary = site.create_issue("pinned to eu")["key"]
    refused = _move(cloud, site, "--region", "us")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "pinned to eu" in refused.stderr and "--unpin" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _home(cloud, site.cloud_id)[0] == "eu"
    assert not (cloud.data_dir / "moves" / "active" / f"{site.cloud_id}.json").exists()
    moved = _move(cloud, site, "--region", "us", "--unpin")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert _home(cloud, site.cloud_id) == ("us", "us-1")
    shown = site.request("GET", f"/rest/issues/issues/{summary}")
    assert shown.status_code == 200 and shown.json()["summary"] == "pinned to eu"
    # It is pinned no more: it moves back without being told to unpin.
    back = _move(cloud, site, "--region", "eu")
    assert back.returncode == 0, back.stdout + back.stderr
    assert _home(cloud, site.cloud_id)[0] == "eu"
    assert site.create_issue("home again")["summary"] == "home again"
    # Once both old copies are due, only the one it left behind is removed: a copy on the
    # shard it came back to is its live data (or was replaced by it), and is kept.
    removed = remove_expired(cloud.data_dir, now=time.time() + 25 * 3600)
    mine = {m["to_region"]: m["source_removed"] for m in removed if m["site"] == site.name}
    assert mine["eu"]["rows"] > 0  # what it left in us
    if _home(cloud, site.cloud_id)[1] == first_home:
        assert "superseded_by" in mine["us"]
    else:
        assert mine["us"]["rows"] > 0
    assert site.request("GET", f"/rest/issues/issues/{summary}").json()["summary"] == "pinned to eu"
    assert site.create_issue("after the removal")["summary"] == "after the removal"


def test_a_move_to_a_region_that_does_not_exist_fails_cleanly(cloud: Cloud) -> None:
    site = signup(cloud, users={"DE": 1}, via="eu", prefix="move-region-nowhere")
    site.create_project()
    before = _home(cloud, site.cloud_id)
    for args, says in (
        (("--region", "mars"), "there is no region 'mars'"),
        (("--region", "eu"), "already lives in eu"),
        (("--region", "us", "--shard", "eu-1"), "is in region eu, not us"),
    ):
        refused = _move(cloud, site, *args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert says in refused.stderr and "Traceback" not in refused.stderr
    assert _home(cloud, site.cloud_id) == before


def test_a_move_into_an_unreachable_region_fails_cleanly_before_the_switch(
    fleet_cloud: Cloud,
) -> None:
    """The target region's media is frozen (in the fleet layout, where it has a process of its
    own): the blob copy cannot get through, so the move stops unswitched, and the site goes on
    where it was, whole."""
    cloud = fleet_cloud
    site = signup(cloud, users={"DE": 1}, via="eu", prefix="move-unreachable")
    site.create_project()
    written = Written()
    stop = threading.Event()
    stop.set()  # a few writes only
    keep_writing(site, stop, written)
    attached = site.request(
        "POST",
        f"/rest/issues/issues/{sorted(written.summaries)[0]}/attachments",
        files={"file": ("notes.txt", NOTES, "text/plain")},
    )
    assert attached.status_code == 201, attached.text
    before = _home(cloud, site.cloud_id)
    media = cloud.pids()["media-au"]
    os.kill(media, signal.SIGSTOP)
    try:
        failed = _move(cloud, site, "--region", "au")
    finally:
        os.kill(media, signal.SIGCONT)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "before the switch" in failed.stderr and "Traceback" not in failed.stderr
    assert _home(cloud, site.cloud_id) == before
    same(stored(site), written)
    keep_writing(site, stop, written)  # its writes are taken where it was
    same(stored(site), written)
    listed = tenantry("tenant", "moves", "--json", "--data-dir", str(cloud.data_dir))
    mine = [m for m in json.loads(listed.stdout) if m["site"] == site.name]
    assert [(m["to_region"], m["phase"]) for m in mine] == [("au", "failed")]


@pytest.mark.parametrize("phase", ["frozen", "switching"])
def test_a_killed_move_between_regions_finishes_when_run_again(cloud: Cloud, phase: str) -> None:
    site = signup(cloud, users={"DE": 1}, via="eu", prefix=f"move-region-kill-{phase}")
    site.create_project()
    written = Written()
    stop = threading.Event()
    stop.set()
    keep_writing(site, stop, written)
    data = str(cloud.data_dir)
    process = subprocess.Popen(
        [*TENANTRY, "tenant", "move", site.name, "--region", "us", "--data-dir", data],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not kill_when(cloud, site, process, phase):
        pytest.fail(f"the move ended before {phase}: {process.communicate()}")
    assert _home(cloud, site.cloud_id)[0] in ("eu", "us")  # one home, never two
    same(stored(site), written)
    moved = _move(cloud, site, "--region", "us")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert _home(cloud, site.cloud_id) == ("us", "us-1")
    same(stored(site), written)
    keep_writing(site, stop, written)
    same(stored(site), written)


def test_only_kms_gets_a_tenants_keys_handed_over_and_only_media_stores_its_blobs(
    cloud: Cloud,
) -> None:
    """The hand-over answers data keys unwrapped: any caller but kms is refused, and so is a
    blob sent to a region's media by anyone but media."""
    site = signup(cloud, users={"DE": 1}, via="eu", prefix="move-region-attack")
    route = "/internal/kms/moves/{cloud_id}/hand-over"
    params = {"cloud_id": site.cloud_id}
    body = {"shard": "eu-1", "to_region": "us"}
    for caller in ("operator", "edge", "issues", "media", "identity", "tcs"):
        refused = call_as(
            cloud, caller, "kms", "POST", route, params=params, json=body, region="eu"
        )
        assert refused.status == 403, (caller, refused.body)
        assert refused.json()["error"] == "route_not_allowed"
    # kms itself may ask (here for a move into its own region, which makes no sense).
    same = call_as(
        cloud,
        "kms",
        "kms",
        "POST",
        route,
        params=params,
        json={**body, "to_region": "eu"},
        region="eu",
    )
    assert (same.status, same.json()["error"]) == (422, "same_region")
    for caller in ("operator", "edge", "issues"):
        stored = call_as(
            cloud,
            caller,
            "media",
            "PUT",
            "/internal/media/moves/{cloud_id}/blob",
            params=params,
            query={"name": "planted/original"},
            content=b"not a blob",
            region="us",
        )
        assert stored.status == 403, (caller, stored.body)
    assert not (cloud.data_dir / "media" / "us" / site.cloud_id / "planted").exists()


def test_keys_and_blobs_go_only_where_tcs_has_the_site_moving(cloud: Cloud) -> None:
    """Every region's kms and media sign as the same service, so each end of a hand-over asks
    tcs where the site is moving: with no move registered every step is refused, and with a
    move from eu to us a third region (au) can neither take the keys nor take or plant blobs;
    the source sends the keys to the registered target only, never back to the caller."""
    site = signup(cloud, users={"DE": 1}, via="eu", prefix="move-region-target")
    site.create_project()
    shard = _home(cloud, site.cloud_id)[1]
    params = {"cloud_id": site.cloud_id}
    key = {"version": 1, "material": "AAAA"}

    def asks(region: str, to_region: str) -> dict[str, Callable[[], Any]]:
        """Each step of a key and blob move, as `region`'s kms and media would make it."""
        hand_over = {"shard": shard, "to_region": to_region}
        receive = {"shard": f"{region}-1", "from_region": "eu", "keys": [key]}
        return {
            "hand-over": lambda: call_as(
                cloud,
                "kms",
                "kms",
                "POST",
                "/internal/kms/moves/{cloud_id}/hand-over",
                params=params,
                json=hand_over,
                region="eu",
            ),
            "receive": lambda: call_as(
                cloud,
                "kms",
                "kms",
                "POST",
                "/internal/kms/moves/{cloud_id}/receive",
                params=params,
                json={**receive, "customer_key_versions": []},
                region=region,
            ),
            "adopt": lambda: call_as(
                cloud,
                "operator",
                "kms",
                "POST",
                "/internal/kms/moves/{cloud_id}/adopt",
                params=params,
                json={"shard": f"{region}-1", "from_region": "eu", "from_shard": shard},
                region=region,
            ),
            "send": lambda: call_as(
                cloud,
                "operator",
                "media",
                "POST",
                "/internal/media/moves/{cloud_id}/send",
                params=params,
                json={"shard": shard, "to_region": region},
                region="eu",
            ),
            "have": lambda: call_as(
                cloud,
                "media",
                "media",
                "POST",
                "/internal/media/moves/{cloud_id}/have",
                params=params,
                json={"names": ["planted/original"]},
                region=region,
            ),
            "blob": lambda: call_as(
                cloud,
                "media",
                "media",
                "PUT",
                "/internal/media/moves/{cloud_id}/blob",
                params=params,
                query={"name": "planted/original"},
                content=b"planted",
                region=region,
            ),
        }

    def refused(steps: dict[str, Callable[[], Any]], reason: str) -> None:
        for step, ask in steps.items():
            answer = ask()
            assert (answer.status, answer.json()["error"]) == (403, reason), (step, answer.body)
            assert b"material" not in answer.body

    refused(asks("us", "us"), "tenant_not_moving")
    # The operator's move registers its target with tcs before it copies anything.
    registered = call_as(
        cloud,
        "operator",
        "tcs",
        "PUT",
        "/internal/tcs/tenants/{site}/move",
        params={"site": site.name},
        json={"from_shard": shard, "to_shard": "us-1", "to_region": "us"},
    )
    assert registered.status == 200, registered.body
    try:
        refused(asks("au", "au"), "move_elsewhere")
        # A caller claiming the registered target gets no key: the source sends to us itself.
        handed = asks("us", "us")["hand-over"]()
        assert handed.status == 200, handed.body
        assert b"material" not in handed.body and handed.json()["rewrapped"] == []
    finally:
        forgotten = call_as(
            cloud,
            "operator",
            "tcs",
            "DELETE",
            "/internal/tcs/tenants/{site}/move",
            params={"site": site.name},
        )
        assert forgotten.status == 200 and forgotten.json()["move"] is None
    for region in ("us", "au"):
        assert not (cloud.data_dir / "media" / region / site.cloud_id / "planted").exists()
    # A switch of a move that is no longer registered is refused.
    switch = call_as(
        cloud,
        "operator",
        "tcs",
        "POST",
        "/internal/tcs/tenants/{site}/home",
        params={"site": site.name},
        json={"from_shard": shard, "to_shard": "us-1", "to_region": "us"},
    )
    assert (switch.status, switch.json()["error"]) == (409, "move_not_registered")
    assert _home(cloud, site.cloud_id) == ("eu", shard)
