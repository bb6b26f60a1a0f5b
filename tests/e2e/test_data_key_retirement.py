"""Rotating a site's data key reseals everything it has (issues, comments, account emails,
attachments and their previews) and retires the older versions: afterwards every stored value
names the newest version only, kms refuses the older ones, and everything still reads back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends import BACKEND
from media_previews.documents import png
from tenantry.platform.crypto import HEADER_SIZE, key_version, stream_key_version

from .api import Site, log_in, signup
from .cloud import Cloud, tenantry
from .service_calls import call_as, data_key, tenant_context
from .stored import shard_of, stored_rows
from .test_attachments import attach, processed

pytestmark = pytest.mark.e2e
SUMMARY, DESCRIPTION, COMMENT = "rotate me", "sealed twice over", "a sealed comment"


def sealed_versions(cloud: Cloud, site: Site) -> dict[str, set[int]]:
    """The key version each stored sealed value and media file of the site names, by place."""
    shard = shard_of(cloud, site.cloud_id)
    shard_dir = cloud.data_dir / "shards" / shard

    def schema(service: str) -> str:
        return "" if BACKEND == "sqlite" else f"{service}."

    def versions(dsn_key: str, path: Path, sql: str) -> set[int]:
        rows = stored_rows(cloud, dsn_key, path, sql, id=site.cloud_id)
        return {key_version(bytes(v)) for row in rows for v in row}

    found = {
        "issues": versions(
            shard,
            shard_dir / "issues.sqlite",
            f"SELECT summary, description FROM {schema('issues')}issues"  # noqa: S608
            " WHERE tenant_id = :id",
        ),
        "comments": versions(
            shard,
            shard_dir / "issues.sqlite",
            f"SELECT body FROM {schema('issues')}comments WHERE tenant_id = :id",  # noqa: S608
        ),
        "accounts": versions(
            "global",
            cloud.data_dir / "global" / "identity.sqlite",
            f"SELECT email FROM {schema('identity')}accounts WHERE tenant_id = :id",  # noqa: S608
        ),
    }
    files = stored_rows(
        cloud,
        shard,
        shard_dir / "media.sqlite",
        f"SELECT key_version FROM {schema('media')}media_files"  # noqa: S608
        " WHERE tenant_id = :id",
        id=site.cloud_id,
    )
    found["file rows"] = {int(v) for (v,) in files}
    root = cloud.data_dir / "media" / site.region / site.cloud_id
    blobs = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    found["blobs"] = {stream_key_version(p.read_bytes()[:HEADER_SIZE]) for p in blobs}
    assert all(found.values()), found  # every kind of place holds something
    return found


def reads_back(cloud: Cloud, site: Site, image: bytes) -> Site:
    """Everything the site wrote reads back through the edge; the site, logged in again."""
    issue = site.request("GET", "/rest/issues/issues/OPS-1")
    assert issue.status_code == 200, issue.text
    assert (issue.json()["summary"], issue.json()["description"]) == (SUMMARY, DESCRIPTION)
    comments = site.request("GET", "/rest/issues/issues/OPS-1/comments")
    assert [c["body"] for c in comments.json()["comments"]] == [COMMENT]
    again = log_in(site, site.http)  # found by the blind index of the email
    me = again.request("GET", "/rest/identity/me")
    assert me.status_code == 200 and me.json()["email"] == f"admin@{site.name}.test"
    file = processed(again, "OPS-1", 1)["chart.png"]
    assert file["status"] == "succeeded", file
    with cloud.http("eu") as plain:
        download = plain.get(file["download_url"])
        assert download.status_code == 200 and download.content == image
        page = plain.get(file["preview_url"].replace("{page}", "1"))
        assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    return again


def refused_as_retired(cloud: Cloud, site: Site, versions: range) -> None:
    for version in versions:
        refused = data_key(cloud, site, version=version)
        assert refused.status == 410, refused.body
        assert refused.json()["error"] == "data_key_retired"


def site_with_everything(cloud: Cloud, prefix: str) -> tuple[Site, bytes]:
    site = signup(cloud, region="eu", prefix=prefix)
    site.create_project()
    site.create_issue(SUMMARY, DESCRIPTION)
    made = site.request("POST", "/rest/issues/issues/OPS-1/comments", json={"body": COMMENT})
    assert made.status_code == 201, made.text
    image = png()
    assert attach(site, "OPS-1", "chart.png", image).status_code == 201
    processed(site, "OPS-1", 1)
    return site, image


def test_two_rotations_reseal_everything_and_retire_the_older_versions(cloud: Cloud) -> None:
    data_dir = ("--data-dir", str(cloud.data_dir))
    site, image = site_with_everything(cloud, "retire")
    assert set().union(*sealed_versions(cloud, site).values()) == {1}

    for version in (2, 3):
        rotated = tenantry("keys", "rotate-data-key", site.name, *data_dir)
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr
        # An issue, a comment and a project's name, the admin's email; one attachment.
        assert (
            f"data key version {version}, 4 rows and 1 files resealed, minimum version {version}"
            in rotated.stdout
        )
        assert {v for vs in sealed_versions(cloud, site).values() for v in vs} == {version}
        refused_as_retired(cloud, site, range(1, version))
        site = reads_back(cloud, site, image)
    assert data_key(cloud, site).json()["version"] == 3
    assert data_key(cloud, site, version=3).status == 200
    # Labels are found by a blind index whose key derives from version 1, retired now: issues
    # gets it from kms, and the filter still finds the issue.
    labelled = site.request("PATCH", "/rest/issues/issues/OPS-1", json={"labels": ["retired-1"]})
    assert labelled.status_code == 200, labelled.text
    found = site.request("GET", "/rest/issues/issues", params={"label": "retired-1"}).json()
    assert [issue["key"] for issue in found["issues"]] == ["OPS-1"]


def operator_call(cloud: Cloud, site: Site, callee: str, route: str, body: Any = None) -> Any:
    """One step of a rotation, made by hand as the operator CLI makes it."""
    answer = call_as(
        cloud,
        "operator",
        callee,
        "POST",
        route,
        json=body,
        region=site.region,
        tenant_context=tenant_context(cloud, site),
        tenant_id=site.cloud_id,
    )
    assert answer.status == 200, answer.body
    return answer.json()


def test_a_rotation_stopped_half_way_is_finished_by_running_it_again(cloud: Cloud) -> None:
    site, image = site_with_everything(cloud, "halfway")
    # The CLI's first steps, then it "dies": a new version, only the issues service resealed.
    version = operator_call(cloud, site, "kms", "/internal/kms/data-key/rotate")["version"]
    assert version == 2
    body = {"cursor": None, "limit": 200, "min_version": version}
    issues = operator_call(cloud, site, "issues", "/internal/issues/reseal", body)
    assert (issues["resealed"], issues["next_cursor"]) == (1, "comments:")
    found = sealed_versions(cloud, site)
    assert found["issues"] == {2} and found["accounts"] == {1} and found["blobs"] == {1}
    # Nothing was retired: whatever is still under version 1 reads back.
    assert data_key(cloud, site, version=1).status == 200
    site = reads_back(cloud, site, image)

    rerun = tenantry("keys", "rotate-data-key", site.name, "--data-dir", str(cloud.data_dir))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "data key version 3, 4 rows and 1 files resealed, minimum version 3" in rerun.stdout
    assert {v for vs in sealed_versions(cloud, site).values() for v in vs} == {3}
    refused_as_retired(cloud, site, range(1, 3))
    reads_back(cloud, site, image)


def test_retiring_the_current_version_or_above_is_refused(cloud: Cloud) -> None:
    site = signup(cloud, region="au", prefix="retire-above")
    site.create_project()
    site.create_issue("keeps its key")
    answer = call_as(
        cloud,
        "operator",
        "kms",
        "POST",
        "/internal/kms/data-key/retire",
        json={"below": 2},
        region=site.region,
        tenant_context=tenant_context(cloud, site),
        tenant_id=site.cloud_id,
    )
    assert answer.status == 409, answer.body
    assert answer.json()["error"] == "retire_above_current"
    assert site.request("GET", "/rest/issues/issues/OPS-1").status_code == 200
    # Only the operator may retire: a service's token is refused by the allowlist.
    as_issues = call_as(
        cloud,
        "issues",
        "kms",
        "POST",
        "/internal/kms/data-key/retire",
        json={"below": 1},
        region=site.region,
        tenant_context=tenant_context(cloud, site),
        tenant_id=site.cloud_id,
    )
    assert as_issues.status == 403, as_issues.body
