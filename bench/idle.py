"""What an idle `tenantry up` costs: how soon it is ready, its processes, memory and CPU at rest.

Starts `tenantry up` in a fresh data directory (extra arguments after `--` go to `up`, such as
`--process-per-service`), and measures:
- ready: seconds from running the command until every edge answers `GET /_health`, and the CPU
  time all its processes spent to get there (steps `up` ran in a child included), which the
  machine's other load disturbs less than the seconds;
- processes: `up` and every process below it;
- RSS and PSS: resident memory of all of them together (PSS shares shared pages out fairly, so
  it does not count a shared library once per process);
- idle CPU: their CPU time over a quiet window after start, as a share of one core.
Run: `.venv/bin/python bench/idle.py [--settle 10] [--window 30] [-- --process-per-service]`.
It listens on 127.0.0.1 only, works in a temporary directory and stops the cloud it started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it, from /proc."""
    found = {pid}
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def cpu_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def reaped_cpu_seconds(pid: int) -> float:
    """CPU time of the children `pid` has waited for (a step `up` ran in a child process)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / TICKS


def memory_kib(pids: set[int]) -> tuple[int, int]:
    """RSS and PSS of `pids` together, in KiB."""
    rss = pss = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in rollup:
            name, _, value = line.partition(":")
            if name == "Rss":
                rss += int(value.split()[0])
            elif name == "Pss":
                pss += int(value.split()[0])
    return rss, pss


def wait_ready(data: Path, up: subprocess.Popen[bytes], started: float) -> float:
    """Seconds from `started` until every edge in cloud.json answers its health check."""
    deadline = started + 180
    while not (data / "cloud.json").exists():
        if up.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("tenantry up did not start")
        time.sleep(0.05)
    cloud = json.loads((data / "cloud.json").read_text())
    context = ssl.create_default_context(cafile=cloud["ca"])
    with httpx.Client(verify=context, timeout=5, trust_env=False) as http:
        for url in cloud["edges"].values():
            while http.get(f"{url}/_health").status_code != 200:
                time.sleep(0.05)
    return time.monotonic() - started


def main() -> None:
    """Print one markdown table row set for bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of idle CPU")
    parser.add_argument("up_args", nargs="*", help="arguments for `tenantry up`, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenantry-idle-") as tmp:
        data = Path(tmp) / "data"
        started = time.monotonic()
        up = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data), *args.up_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ready = wait_ready(data, up, started)
            ready_cpu = cpu_seconds(descendants(up.pid)) + reaped_cpu_seconds(up.pid)
            time.sleep(args.settle)
            pids = descendants(up.pid)
            before = cpu_seconds(pids)
            time.sleep(args.window)
            pids = descendants(up.pid)
            used = cpu_seconds(pids) - before
            rss, pss = memory_kib(pids)
            load = os.getloadavg()[0]
        finally:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=60)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
    layout = " ".join(args.up_args) or "default"
    print(f"`tenantry up {layout}`, {datetime.now(UTC):%Y-%m-%d}, load average {load:.2f}:")
    print()
    print("| ready s | CPU s to ready | processes | RSS MiB | PSS MiB | idle CPU % of a core |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {ready:.1f} | {ready_cpu:.2f} | {len(pids)} | {rss / 1024:.0f} | {pss / 1024:.0f} | "
        f"{100 * used / args.window:.2f} |"
    )


if __name__ == "__main__":
    main()
