"""The recovery point on SQLite, measured: seconds of answered writes lost to a whole-region loss.

Starts `tenantry up` in a fresh directory, signs up two sites in one region and writes issues to
both as fast as they are answered; then kills every process of the cloud with SIGKILL, deletes
the region's live database files and its media directory, restores the region from its backups
(`tenantry backup restore --region R --yes`), starts the cloud again and reads every issue back.
The RPO of a round is how long before the kill the oldest answered write that did not come back
was answered (0 when all came back). Several rounds run on the same directory.
Run: `.venv/bin/python bench/rpo.py [--rounds 3] [--seconds 5] [--region eu]`.
Listens on 127.0.0.1 only; works in a temporary directory and stops the cloud it started.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"


def start(data: Path) -> tuple[subprocess.Popen[bytes], dict[str, str], ssl.SSLContext]:
    (data / "cloud.json").unlink(missing_ok=True)
    env = {**os.environ, "TENANTRY_SQLITE_SYNCHRONOUS": "full"}
    with (data.parent / "up.out").open("ab") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 120
    while not (data / "cloud.json").exists():
        if up.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"tenantry up did not start: see {data.parent / 'up.out'}")
        time.sleep(0.2)
    document = json.loads((data / "cloud.json").read_text())
    return up, document["edges"], ssl.create_default_context(cafile=document["ca"])


def client(edge: str, tls: ssl.SSLContext) -> httpx.Client:
    return httpx.Client(base_url=edge, verify=tls, timeout=10.0, trust_env=False)


def log_in(http: httpx.Client, site: str) -> dict[str, str]:
    body = {"site": site, "email": f"admin@{site}.test", "password": PASSWORD}
    token = http.post("/login", json=body).json()["token"]
    return {"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"}


def write(
    http: httpx.Client,
    headers: dict[str, str],
    answered: list[tuple[float, str]],
    stop: threading.Event,
    site: str,
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        summary = f"{site} {number}"
        body = {"project": "OPS", "summary": summary, "description": ""}
        try:
            made = http.post("/rest/issues/issues", json=body, headers=headers)
        except httpx.HTTPError:
            return
        if made.status_code == 201:
            answered.append((time.time(), summary))


def summaries(http: httpx.Client, headers: dict[str, str]) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        query = {"project": "OPS", **({"cursor": cursor} if cursor else {})}
        page = http.get("/rest/issues/issues", params=query, headers=headers).json()
        found |= {issue["summary"] for issue in page["issues"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def kill_all(data: Path, up: subprocess.Popen[bytes]) -> None:
    children = json.loads((data / "run" / "pids.json").read_text())["children"].values()
    os.kill(up.pid, signal.SIGKILL)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    up.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--region", default="eu")
    args = parser.parse_args()
    region = args.region
    with tempfile.TemporaryDirectory(prefix="tenantry-rpo-") as tmp:
        data = Path(tmp) / "data"
        up, edges, tls = start(data)
        sites = [f"rpo{n}-{os.getpid()}" for n in (1, 2)]
        with client(edges[region], tls) as http:
            for site in sites:
                made = http.post(
                    "/signup",
                    json={
                        "site": site,
                        "email": f"admin@{site}.test",
                        "password": PASSWORD,
                        "region": region,
                    },
                )
                assert made.status_code == 201, made.text
                headers = log_in(http, site)
                http.post(
                    "/rest/issues/projects", json={"key": "OPS", "name": "Ops"}, headers=headers
                )
        rpos: list[float] = []
        writes = 0
        for round_number in range(1, args.rounds + 1):
            answered: dict[str, list[tuple[float, str]]] = {s: [] for s in sites}
            stop = threading.Event()
            clients = [client(edges[region], tls) for _ in sites]
            threads = [
                threading.Thread(target=write, args=(c, log_in(c, s), answered[s], stop, s))
                for c, s in zip(clients, sites, strict=True)
            ]
            for thread in threads:
                thread.start()
            time.sleep(args.seconds)
            lost_at = time.time()
            kill_all(data, up)
            stop.set()
            for thread in threads:
                thread.join()
            for c in clients:
                c.close()
            topology = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "from tenantry.platform.topology import load_topology;"
                    f"print(' '.join(s.name for s in load_topology().regions[{region!r}].shards))",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            for shard in topology:
                shutil.rmtree(data / "shards" / shard, ignore_errors=True)
            shutil.rmtree(data / "media" / region, ignore_errors=True)
            began = time.monotonic()
            restored = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tenantry",
                    "backup",
                    "restore",
                    "--region",
                    region,
                    "--yes",
                    "--data-dir",
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            restore_seconds = time.monotonic() - began
            if restored.returncode != 0:
                raise SystemExit(f"restore failed: {restored.stderr}")
            up, edges, tls = start(data)
            lost_oldest = 0.0
            lost_count = 0
            with client(edges[region], tls) as http:
                for site in sites:
                    back = summaries(http, log_in(http, site))
                    lost = [t for t, s in answered[site] if s not in back]
                    lost_count += len(lost)
                    if lost:
                        lost_oldest = max(lost_oldest, lost_at - min(lost))
            count = sum(len(a) for a in answered.values())
            writes += count
            rpos.append(lost_oldest)
            print(
                f"round {round_number}: {count} writes answered, {lost_count} lost, "
                f"RPO {lost_oldest:.3f} s, restore {restore_seconds:.1f} s"
            )
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
    print(
        f"RPO over {args.rounds} rounds: median {statistics.median(rpos):.3f} s, "
        f"worst {max(rpos):.3f} s (goal <= 1 s: {'met' if max(rpos) <= 1 else 'MISSED'}); "
        f"{writes} writes in all; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
