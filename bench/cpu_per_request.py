"""Where a request's CPU goes: CPU time each process of a cloud spends per request.

Starts a `tenantry up`, signs a site up, makes one issue, then reads it with wrk through the us
edge and divides each process's CPU time (from /proc) by the requests served.
Run: `.venv/bin/python bench/cpu_per_request.py [--connections 8] [--duration 8]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PASSWORD = "bench-password-1"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _prepare(edge: str, ca: str) -> tuple[str, str, str]:
    with httpx.Client(base_url=edge, verify=ca, timeout=30, trust_env=False) as http:
        site = f"cpu-{os.getpid()}"
        account = {"site": site, "email": f"a@{site}.test", "password": PASSWORD}
        assert http.post("/signup", json={**account, "region": "us"}).status_code == 201
        token = http.post("/login", json=account).json()["token"]
        headers = {"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"}
        project = {"key": "CPU", "name": "cpu"}
        assert http.post("/rest/issues/projects", json=project, headers=headers).status_code == 201
        issue = {"project": "CPU", "summary": "s", "description": "d"}
        key = http.post("/rest/issues/issues", json=issue, headers=headers).json()["key"]
    return site, token, str(key)


def main() -> None:
    """Print CPU µs per request for every process that did measurable work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenantry-cpu-") as tmp:
        data = Path(tmp) / "data"
        up = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not (data / "cloud.json").exists():
                if up.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("tenantry up did not start")
                time.sleep(0.2)
            cloud = json.loads((data / "cloud.json").read_text())
            edge, ca = cloud["edges"]["us"], cloud["ca"]
            site, token, key = _prepare(edge, ca)
            pids = json.loads((data / "run" / "pids.json").read_text())["children"]
            before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            wrk = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{args.duration}s",
                    "--latency",
                    "-H",
                    f"X-Tenantry-Site: {site}",
                    "-H",
                    f"Authorization: Bearer {token}",
                    f"{edge}/rest/issues/issues/{key}",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            after = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    served = int(re.search(r"(\d+) requests in", wrk).group(1))  # type: ignore[union-attr]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", wrk).group(1)  # type: ignore[union-attr]
    print(
        f"GET issue through the us edge, {args.connections} connections: "
        f"{served} requests, {rps} req/s, p50 {p50}\n"
    )
    print("| process | CPU µs per request |")
    print("| --- | ---: |")
    for name in pids:
        spent = after[name] - before[name]
        if spent > 0.05:
            print(f"| {name} | {spent / served * 1e6:,.0f} |")


if __name__ == "__main__":
    main()
