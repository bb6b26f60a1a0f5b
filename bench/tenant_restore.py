"""Tenant restore time against the tenant's size, on SQLite: `tenantry tenant restore SITE --at T`.

Starts `tenantry up` in a fresh directory (Litestream backs every database up), then for each
size signs up a site and gives it that many megabytes: half as issues with 8 KB descriptions
(sealed rows), half as 256 KB attachments (sealed blobs). It notes the second T, waits for the
backups to hold it, writes a few more issues and deletes the blobs from the live media store
(what the restore must undo; the blobs come back from the backup repositories), then times
the restore to T and checks the site has exactly its issues of T. An empty site is restored
first (twice: the second is timed, as the first also warms the cloud up), as the baseline the
ratios are against; the last column is the time per megabyte beyond that baseline.
Run: `.venv/bin/python bench/tenant_restore.py [--sizes 1,10] [--region eu]`.
Listens on 127.0.0.1 only; works in a temporary directory and stops the cloud it started.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from rpo import PASSWORD, client, log_in, start, summaries

DESCRIPTION_BYTES = 8 * 1024
BLOB_BYTES = 256 * 1024
BACKUP_CATCH_UP_SECONDS = 5.0
"""Litestream ships each database about every second; wait a few before restoring to T."""


def fill(http: httpx.Client, headers: dict[str, str], megabytes: float) -> int:
    """Issues and attachments of about `megabytes` in all; how many issues."""
    half = int(megabytes * 1024 * 1024 / 2)
    issues = max(1, half // DESCRIPTION_BYTES) if megabytes else 0
    for number in range(issues):
        body = {
            "project": "OPS",
            "summary": f"issue {number}",
            "description": os.urandom(DESCRIPTION_BYTES // 2).hex(),
        }
        made = http.post("/rest/issues/issues", json=body, headers=headers)
        assert made.status_code == 201, made.text
    for number in range(half // BLOB_BYTES if megabytes else 0):
        data = os.urandom(BLOB_BYTES)
        made = http.post(
            "/rest/issues/issues/OPS-1/attachments",
            files={"file": (f"blob{number}.bin", data, "application/octet-stream")},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    return issues


def restore(data: Path, site: str, at: datetime) -> float:
    """Seconds `tenantry tenant restore` took."""
    began = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tenantry",
            "tenant",
            "restore",
            site,
            "--at",
            at.isoformat(timespec="seconds"),
            "--yes",
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"restore of {site} failed: {done.stdout}{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10", help="megabytes per site, comma-separated")
    parser.add_argument("--region", default="eu")
    args = parser.parse_args()
    sizes = [0.0, *(float(s) for s in args.sizes.split(","))]
    with tempfile.TemporaryDirectory(prefix="tenantry-restore-") as tmp:
        data = Path(tmp) / "data"
        up, edges, tls = start(data)
        results: list[tuple[float, int, float]] = []
        try:
            with client(edges[args.region], tls) as http:
                for size in sizes:
                    site = f"rst{int(size)}-{os.getpid()}"
                    signed = {
                        "site": site,
                        "email": f"admin@{site}.test",
                        "password": PASSWORD,
                        "region": args.region,
                    }
                    assert http.post("/signup", json=signed).status_code == 201
                    headers = log_in(http, site)
                    project = {"key": "OPS", "name": "Ops"}
                    assert http.post("/rest/issues/projects", json=project, headers=headers)
                    issues = fill(http, headers, size)
                    time.sleep(1.1)  # T falls after the last write, to the second
                    at = datetime.now(UTC).replace(microsecond=0)
                    time.sleep(BACKUP_CATCH_UP_SECONDS)
                    for number in range(3):
                        late = {"project": "OPS", "summary": f"late {number}", "description": ""}
                        http.post("/rest/issues/issues", json=late, headers=headers)
                    for tenant_dir in (data / "media").glob("*/*"):
                        if tenant_dir.is_dir() and size:
                            shutil.rmtree(tenant_dir, ignore_errors=True)
                    if not size:  # the first restore of a cloud also warms it up
                        restore(data, site, at)
                    seconds = restore(data, site, at)
                    headers = log_in(http, site)
                    back = summaries(http, headers)
                    assert back == {f"issue {n}" for n in range(issues)}, len(back)
                    results.append((size, issues, seconds))
                    print(f"{size:g} MB ({issues} issues): restored in {seconds:.2f} s", flush=True)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    base = results[0][2]
    for size, issues, seconds in results:
        print(
            f"| {size:g} MB | {issues} | {seconds:.2f} s | {seconds / base:.2f} | "
            f"{(seconds - base) / size if size else 0:.3f} s/MB |"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
