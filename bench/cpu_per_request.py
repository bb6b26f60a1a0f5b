"""Where a request's CPU goes: CPU time each process of a cloud spends per request.

Starts a `tenantry up` (default layout unless arguments after `--` say otherwise, such as
`--process-per-service`), signs a site up, then drives create-then-read of issues through the
us edge with wrk (the spine's script: 16 connections, 2 threads) and divides each process's CPU
time (from /proc) by the requests served. CPU time, unlike requests per second, is disturbed
little by the machine's other load. `--profile FILE` also samples the us region's process (or
the edge's, in the fleet layout) with py-spy while wrk runs (only the thread holding the GIL:
time on CPU in Python, not waits) and writes its raw stacks to FILE.
Run: `.venv/bin/python bench/cpu_per_request.py [--connections 16] [--duration 10] [-- ...]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from spine import LUA_SCRIPT, bench_topology, prepare_tenant

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _wrk(edge: str, site: str, token: str, connections: int, seconds: int) -> str:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    argv += ["-s", str(LUA_SCRIPT), edge, "--", "/rest/issues", site, token]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def main() -> None:
    """Print CPU µs per request for every process that did measurable work, and their sum."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="write py-spy raw stacks here")
    parser.add_argument("up_args", nargs="*", help="arguments for `tenantry up`, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenantry-cpu-") as tmp:
        data = Path(tmp) / "data"
        topology = Path(tmp) / "topology.toml"
        topology.write_text(bench_topology())
        argv = [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data)]
        up = subprocess.Popen(
            [*argv, "--config", str(topology), *args.up_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 180
            while not (data / "cloud.json").exists():
                if up.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("tenantry up did not start")
                time.sleep(0.2)
            cloud = json.loads((data / "cloud.json").read_text())
            edge = cloud["edges"]["us"]
            site, token = prepare_tenant(edge, Path(cloud["ca"]))
            pids = json.loads((data / "run" / "pids.json").read_text())["children"]
            pids["up"] = up.pid
            if args.warmup > 0:
                _wrk(edge, site, token, args.connections, args.warmup)
            spy = _start_profile(args.profile, pids, args.duration)
            before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            wrk = _wrk(edge, site, token, args.connections, args.duration)
            after = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            if spy is not None:
                spy.wait(timeout=60)
            load = os.getloadavg()[0]
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    served = int(re.search(r"(\d+) requests in", wrk).group(1))  # type: ignore[union-attr]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", wrk).group(1)  # type: ignore[union-attr]
    layout = " ".join(args.up_args) or "default layout"
    print(
        f"`tenantry up` ({layout}), create-then-read through the us edge, "
        f"{args.connections} connections, {args.duration} s, {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC, load average {load:.2f}: {served} requests, {rps} req/s, p50 {p50}\n"
    )
    print("| process | CPU µs per request |")
    print("| --- | ---: |")
    total = 0.0
    for name in pids:
        spent = after[name] - before[name]
        total += spent
        if spent > 0.05:
            print(f"| {name} | {spent / served * 1e6:,.0f} |")
    print(f"| all together | {total / served * 1e6:,.0f} |")


def _start_profile(
    output: Path | None, pids: dict[str, int], seconds: int
) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the process that holds the us edge, for the measured seconds."""
    if output is None:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on the PATH")
    target = pids.get("region-us") or pids["edge-us"]
    argv = [spy, "record", "-p", str(target), "-d", str(seconds), "-r", "250"]
    argv += ["-f", "raw", "-o", str(output), "--nonblocking", "--gil"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
