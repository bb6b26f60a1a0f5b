"""Encryption at rest through a real cloud: no plaintext and no data key ever reach the disk."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import create_engine, text

from backends import BACKEND
from tenantry.platform.topology import load_topology
from tenantry.services.kms.keyring import wrap_context
from tenantry.services.kms.providers import LocalKeyProvider

from .api import signup
from .cloud import Cloud, tenantry
from .stored import shard_of, stored_rows

SECRETS = (
    "quarterly numbers for acme",
    "the launch code is 31337",
    "call the auditors",
    "the attachment's hidden remark",
)


NAME = "Ada Countess Lovelace"  # a display name: personal data too
PROJECT_NAME = "Project Nightingale merger"  # a project's name and a label: tenant content
LABEL = "nightingale-acquisition-q3"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """A cloud of this file's own that runs its backup agents, so the scan covers what they
    write (the shared cloud runs none)."""
    running = Cloud.start(tmp_path_factory.mktemp("sealed-cloud") / "data", backups=True)
    try:
        yield running
    finally:
        running.stop()


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _postgres_tables(cloud: Cloud) -> bytes:
    """Every row of every tenantry table on every database, as text (PostgreSQL runs only)."""
    topology = load_topology(cloud.data_dir / "run" / "topology.toml")
    dsns = [topology.global_dsn, *(shard.dsn for shard in topology.shards.values())]
    dumped: list[str] = []
    for dsn in dsns:
        assert dsn is not None
        engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as c:
                tables = c.execute(
                    text(
                        "SELECT table_schema, table_name FROM information_schema.tables"
                        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    )
                ).all()
                for schema, table in tables:
                    sql = text(f'SELECT t::text FROM "{schema}"."{table}" t')  # noqa: S608
                    dumped += c.execute(sql).scalars().all()
        finally:
            engine.dispose()
    return "\n".join(dumped).encode()


def _wait_until_backed_up(cloud: Cloud, region: str, since: float) -> None:
    """Wait until both of the region's repositories hold sealed files written after `since`,
    and the media blobs, so the scan reads the backups of what the test wrote."""
    repositories = sorted((cloud.data_dir / "backups" / region).iterdir())
    assert len(repositories) == 2, repositories
    deadline = time.monotonic() + 30

    def holds_it(repository: Path) -> bool:
        ltx = [p.stat().st_mtime for p in repository.rglob("*.ltx")]
        media = [p for p in (repository / "media").rglob("*") if p.is_file()]
        return bool(media) and max(ltx, default=0.0) >= since

    while not all(holds_it(r) for r in repositories):
        assert time.monotonic() < deadline, "the backups did not catch up"
        time.sleep(0.2)


def _png_carrying(secret: str) -> bytes:
    """A small PNG whose text chunk holds `secret` in the clear, as an upload's original bytes."""
    info = PngInfo()
    info.add_text("Comment", secret)
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, format="PNG", pnginfo=info)
    assert secret.encode() in out.getvalue()
    return out.getvalue()


def test_no_plaintext_of_a_site_reaches_any_file_or_table(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", prefix="seal")
    site.create_project(name=PROJECT_NAME)
    made = site.create_issue(SECRETS[0], SECRETS[1])
    path = f"/rest/issues/issues/{made['key']}"
    labelled = site.request("PATCH", path, json={"labels": [LABEL]})
    assert labelled.status_code == 200, labelled.text
    found = site.request("GET", "/rest/issues/issues", params={"label": LABEL}).json()
    assert [i["key"] for i in found["issues"]] == [made["key"]]
    assert site.request("GET", "/rest/issues/projects/OPS").json()["name"] == PROJECT_NAME
    comment = site.request("POST", f"{path}/comments", json={"body": SECRETS[2]})
    assert comment.status_code == 201, comment.text
    attached = site.request(
        "POST",
        f"{path}/attachments",
        files={"file": ("plan.png", _png_carrying(SECRETS[3]), "image/png")},
    )
    assert attached.status_code == 201, attached.text
    read = site.request("GET", path).json()
    assert (read["summary"], read["description"]) == SECRETS[:2]
    email = f"admin@{site.name}.test"  # the sign-up's account email: personal data
    member = {"email": f"ada@{site.name}.test", "password": "a long enough password"}
    added = site.request("POST", "/rest/identity/accounts", json={**member, "display_name": NAME})
    assert added.status_code == 201, added.text
    assert added.json()["display_name"] == NAME

    deadline = time.monotonic() + 60
    while True:  # the preview is rendered (and stored) in the background
        listed = site.request("GET", f"{path}/attachments").json()["attachments"]
        if listed[0]["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert listed[0]["status"] == "succeeded", listed

    if BACKEND == "sqlite":
        _wait_until_backed_up(cloud, site.region, time.time())
    stored = _all_bytes(cloud.data_dir)  # the backup repositories are under it too
    if BACKEND == "postgres":
        stored += _postgres_tables(cloud)
        assert site.cloud_id.encode() in stored  # the scan sees this tenant's rows
    for secret in (*SECRETS, email, member["email"], NAME, PROJECT_NAME, LABEL):
        for form in (
            secret.encode(),
            secret.encode().hex().encode(),
            base64.b64encode(secret.encode()),
        ):
            assert form not in stored, secret


def test_no_data_key_is_ever_written_to_disk(cloud: Cloud) -> None:
    site = signup(cloud, region="au", prefix="keys")
    site.create_project()
    site.create_issue("something sealed")
    shard = shard_of(cloud, site.cloud_id)
    schema = "" if BACKEND == "sqlite" else "kms."
    wrapped_keys = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "kms.sqlite",
        f"SELECT version, wrapped, root_key_ref FROM {schema}data_keys"  # noqa: S608
        " WHERE tenant_id = :id",
        id=site.cloud_id,
    )
    assert wrapped_keys, "the tenant has a data key"
    # What only kms can do: unwrap with the region's root key (under its master key file).
    provider = LocalKeyProvider(cloud.data_dir / "kms" / "au")
    stored = _all_bytes(cloud.data_dir)
    for version, wrapped, ref in wrapped_keys:
        key = provider.unwrap(ref, bytes(wrapped), wrap_context(site.cloud_id, version))
        assert len(key) == 32
        for form in (key, key.hex().encode(), base64.b64encode(key)):
            assert form not in stored


def test_rotating_a_sites_data_key_reseals_its_data_online(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", prefix="rot")
    site.create_project()
    made = [site.create_issue(f"issue {n}", f"details {n}") for n in range(3)]
    path = f"/rest/issues/issues/{made[0]['key']}/comments"
    assert site.request("POST", path, json={"body": "a comment"}).status_code == 201

    result = tenantry("keys", "rotate-data-key", site.name, "--data-dir", str(cloud.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    # 3 issues, a comment and a project's name in issues, the admin's email; no files.
    expected = "data key version 2, 6 rows and 0 files resealed, minimum version 2"
    assert expected in result.stdout

    for n, issue in enumerate(made):
        read = site.request("GET", f"/rest/issues/issues/{issue['key']}").json()
        assert (read["summary"], read["description"]) == (f"issue {n}", f"details {n}")
    comments = site.request("GET", path).json()["comments"]
    assert [c["body"] for c in comments] == ["a comment"]
    again = tenantry("keys", "rotate-data-key", site.name, "--data-dir", str(cloud.data_dir))
    assert "data key version 3, 6 rows and 0 files resealed, minimum version 3" in again.stdout

    unknown = tenantry("keys", "rotate-data-key", "no-such-site", "--data-dir", str(cloud.data_dir))
    assert unknown.returncode == 1
    assert "Traceback" not in unknown.stdout + unknown.stderr
