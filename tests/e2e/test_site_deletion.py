"""Deleting a site is undoable: unreachable at once at every edge, whole again when undeleted,
and purged (its keys destroyed) by the cloud itself once its grace period has ended."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import BACKEND

from .api import PASSWORD, Site, add_account, eventually, signup, token_for
from .cloud import Cloud, tenantry
from .edges import all_edges_answer
from .service_calls import data_key
from .stored import shard_of, stored_rows

pytestmark = pytest.mark.e2e
NOTES = b"minutes of the incident review\n" * 50


def _operator(cloud: Cloud, *args: str) -> tuple[int, str]:
    done = tenantry(*args, "--data-dir", str(cloud.data_dir))
    return done.returncode, done.stdout + done.stderr


def _info(cloud: Cloud, site: str) -> dict[str, object]:
    code, out = _operator(cloud, "tenant", "info", site, "--json")
    assert code == 0, out
    found: dict[str, object] = json.loads(out)
    return found


def _status(cloud: Cloud, site: str) -> str:
    return str(_info(cloud, site)["status"])


def _fill(site: Site) -> tuple[str, str]:
    """A project, an issue with a comment and an attachment, and a member; the member's email
    and the attachment's download link."""
    site.create_project()
    site.create_issue("a plan kept for later", "the details")
    comment = site.request("POST", "/rest/issues/issues/OPS-1/comments", json={"body": "noted"})
    assert comment.status_code == 201, comment.text
    attached = site.request(
        "POST",
        "/rest/issues/issues/OPS-1/attachments",
        files={"file": ("notes.txt", NOTES, "application/octet-stream")},
    )
    assert attached.status_code in (200, 201), attached.text
    _, email = add_account(site)
    return email, _download_url(site)


def _download_url(site: Site) -> str:
    listed = site.request("GET", "/rest/issues/issues/OPS-1/attachments")
    assert listed.status_code == 200, listed.text
    (file,) = listed.json()["attachments"]
    return str(file["download_url"])


def _whole(cloud: Cloud, site: Site, member_email: str) -> None:
    """Everything `_fill` made reads back, and the member logs in."""
    issue = site.request("GET", "/rest/issues/issues/OPS-1")
    assert issue.status_code == 200, issue.text
    assert issue.json()["summary"] == "a plan kept for later"
    comments = site.request("GET", "/rest/issues/issues/OPS-1/comments")
    assert [c["body"] for c in comments.json()["comments"]] == ["noted"]
    with cloud.http(site.region) as plain:
        assert plain.get(_download_url(site)).content == NOTES
    token_for(site, member_email)


def test_a_deleted_site_is_unknown_at_every_edge_at_once_and_comes_back_whole(
    cloud: Cloud,
) -> None:
    site = signup(cloud, region="eu", prefix="undel")
    neighbour = signup(cloud, region="eu", prefix="undel-nb")
    member_email, download = _fill(site)
    neighbour.create_project()
    assert all_edges_answer(cloud, site, 200, within=10) >= 0

    code, out = _operator(cloud, "tenant", "delete", site.name)
    assert code == 0, out
    assert f"{site.name}: deleted; purged at " in out
    all_edges_answer(cloud, site, 404, within=1.0)
    for region in cloud.edges:
        refused = site.via(cloud.http(region)).request("GET", "/rest/issues/issues/OPS-1")
        assert refused.json()["error"] == "unknown_site"
    # Every door answers as for a site that never was: login, media links, the data plane.
    login = site.http.post(
        "/login",
        json={"site": site.name, "email": f"admin@{site.name}.test", "password": PASSWORD},
    )
    assert (login.status_code, login.json()["error"]) == (404, "unknown_site")
    with cloud.http(site.region) as plain:
        assert plain.get(download).status_code == 404
    refused_key = data_key(cloud, site)
    assert (refused_key.status, refused_key.json()["error"]) == (403, "tenant_deleted")
    shown = _info(cloud, site.name)
    assert shown["status"] == "deleted" and shown["deleted_at"] is not None
    assert neighbour.request("GET", "/rest/issues/projects").status_code == 200

    code, out = _operator(cloud, "tenant", "undelete", site.name)
    assert code == 0, out
    assert f"{site.name}: undeleted, active" in out
    all_edges_answer(cloud, site, 200, within=1.0)
    _whole(cloud, site, member_email)
    shown = _info(cloud, site.name)
    assert shown["status"] == "active" and shown["deleted_at"] is None


def test_a_suspended_site_comes_back_suspended(cloud: Cloud) -> None:
    site = signup(cloud, region="us", prefix="undel-susp")
    assert _operator(cloud, "tenant", "suspend", site.name)[0] == 0
    assert _operator(cloud, "tenant", "delete", site.name)[0] == 0
    assert _status(cloud, site.name) == "deleted"
    code, out = _operator(cloud, "tenant", "undelete", site.name)
    assert code == 0, out
    assert "undeleted, suspended" in out
    eventually(
        "the site to answer as suspended",
        lambda: site.request("GET", "/rest/issues/projects").status_code == 403,
    )


def test_deletes_and_undeletes_that_cannot_be_done_are_refused_plainly(cloud: Cloud) -> None:
    site = signup(cloud, region="au", prefix="undel-err")
    refusals = [
        (("tenant", "undelete", site.name), "site_not_deleted"),
        (("tenant", "delete", "no-such-site-here"), "unknown_site"),
        (("tenant", "undelete", "no-such-site-here"), "unknown_site"),
        (("tenant", "delete", "Not_A_Site"), "unknown_site"),
    ]
    for args, reason in refusals:
        code, out = _operator(cloud, *args)
        assert code == 1, (args, out)
        assert reason in out and "Traceback" not in out, (args, out)

    assert _operator(cloud, "tenant", "delete", site.name)[0] == 0
    for args, reason in [
        (("tenant", "delete", site.name), "site_deleted"),
    ]:
        code, out = _operator(cloud, *args)
        assert code == 1 and reason in out and "Traceback" not in out, (args, out)
    for args in (("tenant", "resume", site.name), ("tenant", "suspend", site.name)):
        code, out = _operator(cloud, *args)
        assert code == 1 and "undelete it first" in out and "Traceback" not in out, (args, out)

    # Purging stays the immediate way, deleted or not; a purged site never comes back.
    code, out = _operator(cloud, "tenant", "purge", site.name, "--yes")
    assert code == 0, out
    assert f"{site.name}: purged, 1 data key versions destroyed" in out
    for args in (("tenant", "undelete", site.name), ("tenant", "delete", site.name)):
        code, out = _operator(cloud, *args)
        assert code == 1 and "site_purged" in out and "Traceback" not in out, (args, out)
    assert _status(cloud, site.name) == "purged"


@pytest.fixture(scope="module")
def no_grace_cloud(
    tmp_path_factory: pytest.TempPathFactory, storage_backend: str
) -> Iterator[Cloud]:
    """A cloud whose deleted sites are purged as soon as its loop sees them."""
    root = tmp_path_factory.mktemp("no-grace")
    default = (
        Path(__file__).parents[2] / "src/tenantry/platform/default_topology.toml"
    ).read_text()
    config = root / "topology.toml"
    # Without the comments, which mention `dsn`: the test backend then adds its databases.
    lines = [line for line in default.splitlines() if not line.lstrip().startswith("#")]
    config.write_text("\n".join(lines).replace("site_grace_days = 14", "site_grace_days = 0"))
    running = Cloud.start(root / "data", config=config)
    try:
        yield running
    finally:
        running.stop()


def _wrapped_keys(cloud: Cloud, site: Site) -> list[tuple[bytes, str]]:
    schema = "" if BACKEND == "sqlite" else "kms."
    shard = shard_of(cloud, site.cloud_id)
    return [
        (bytes(wrapped), str(state))
        for wrapped, state in stored_rows(
            cloud,
            shard,
            cloud.data_dir / "shards" / shard / "kms.sqlite",
            f"SELECT wrapped, state FROM {schema}data_keys WHERE tenant_id = :id",  # noqa: S608
            id=site.cloud_id,
        )
    ]


def test_the_cloud_purges_a_deleted_site_when_its_grace_ends(no_grace_cloud: Cloud) -> None:
    cloud = no_grace_cloud
    site = signup(cloud, region="us", prefix="graceless")
    site.create_project()
    site.create_issue("shred me", "after the grace")
    assert [state for _, state in _wrapped_keys(cloud, site)] == ["active"]

    code, out = _operator(cloud, "tenant", "delete", site.name)
    assert code == 0, out
    eventually("the loop to purge the site", lambda: _status(cloud, site.name) == "purged", 30)
    assert _wrapped_keys(cloud, site) == [(b"", "destroyed")]
    refused = data_key(cloud, site)
    assert (refused.status, refused.json()["error"]) == (403, "tenant_purged")
    gone = site.request("GET", "/rest/issues/issues/OPS-1")
    assert (gone.status_code, gone.json()["error"]) == (404, "unknown_site")
    code, out = _operator(cloud, "tenant", "undelete", site.name)
    assert code == 1 and "site_purged" in out, out
