"""Measure whether one flooding tenant slows another tenant of the same region down.

One `tenantry up` cloud with the built-in topology (so the per-tenant edge limit is the default
3000/second) and two sites, A and B, both signed up in region "us". B is measured twice with the
same light create-then-read load: once with A idle, once while A floods the same edge with a much
heavier load of its own that started two seconds earlier. B's p99 in the two runs is the figure
that matters (goal: at most 2x); A's refusals are tallied by status and error code, so the
edge's per-tenant rate limit (429) and the services' per-tenant concurrency cap (503
`tenant_concurrency_cap`) can be told apart.

It prints markdown for bench/RESULTS.md. Every process it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spine import (
    LUA_SCRIPT,
    Load,
    Processes,
    WrkResult,
    command_line,
    load_arguments,
    machine,
    parse_wrk,
    prepare_tenant,
    publish,
    run_main,
    run_wrk,
    terminated_on_sigterm,
    wait_for_cloud,
    wrk_missing,
)

GOAL_P99_RATIO = 2.0
HEAD_START_SECONDS = 2
_STATUS_COUNTS = re.compile(r"^STATUS-COUNTS ?(.*)$", re.MULTILINE)


@dataclass(frozen=True)
class Flood:
    """What the flooding tenant sent and how it was answered."""

    result: WrkResult
    statuses: dict[str, int]  # "<status>:<error code>" -> responses


def parse_statuses(output: str) -> dict[str, int]:
    """Read the STATUS-COUNTS line of create_read.lua."""
    found = _STATUS_COUNTS.search(output)
    if found is None:
        raise RuntimeError(f"no STATUS-COUNTS line in wrk output:\n{output}")
    pairs = (part.rsplit("=", 1) for part in found.group(1).split())
    return {tag: int(count) for tag, count in pairs}


def flood_argv(edge: str, site: str, token: str, connections: int, seconds: int) -> list[str]:
    """The wrk command line of the flooding tenant."""
    return [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        edge,
        "--",
        "/rest/issues",
        site,
        token,
    ]


def run_with_flood(
    procs: Processes,
    work: Path,
    edge: str,
    victim: tuple[str, str],
    flooder: tuple[str, str],
    load: Load,
    flood_connections: int,
) -> tuple[WrkResult, Flood]:
    """Start A's flood, give it a head start, then measure B while A keeps flooding."""
    flood_seconds = HEAD_START_SECONDS + load.warmup + load.duration + 2
    argv = flood_argv(edge, *flooder, flood_connections, flood_seconds)
    proc = procs.start("wrk-flood", argv, dict(os.environ))
    time.sleep(HEAD_START_SECONDS)
    if proc.poll() is not None:
        raise RuntimeError(f"the flood's wrk exited early:\n{procs.log_tail('wrk-flood')}")
    victim_result = run_wrk("B, A flooding", edge, load, "/rest/issues", *victim)
    if proc.wait(timeout=flood_seconds + 30) != 0:
        raise RuntimeError(f"the flood's wrk failed:\n{procs.log_tail('wrk-flood')}")
    output = (work / "wrk-flood.log").read_text(errors="replace")
    return victim_result, Flood(parse_wrk("A flooding", output), parse_statuses(output))


def render(
    alone: WrkResult,
    flooded: WrkResult,
    flood: Flood,
    load: Load,
    flood_connections: int,
    command: str,
) -> str:
    """The markdown report: B's latency with A idle and flooding, and A's refusals."""
    cores, model = machine()
    ratio = flooded.p99_ms / alone.p99_ms if alone.p99_ms else float("inf")
    verdict = "met" if ratio <= GOAL_P99_RATIO else "MISSED"
    refused = {tag: n for tag, n in flood.statuses.items() if not tag.startswith(("200", "201"))}
    refused_total = sum(refused.values())
    lines = [
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {cores} cores, {model}  ",
        f"Command: `{command}`  ",
        "Cloud: `tenantry up` with the built-in topology (per-tenant edge limit "
        "3000/second;100000/minute); sites A and B both signed up in region us.  ",
        f"Load: B: wrk {load.threads} threads, {load.connections} connections, "
        f"{load.duration} s measured after {load.warmup} s warm-up; A: wrk 2 threads, "
        f"{flood_connections} connections, started {HEAD_START_SECONDS} s before B and running "
        "until after B ends. Create-then-read for both, through the us edge.",
        "",
        "| Run | B requests | B req/s | B p50 ms | B p99 ms | B errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in (("A idle", alone), ("A flooding", flooded)):
        errors = result.failures + result.socket_errors
        lines.append(
            f"| {name} | {result.requests} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
            f"{result.p99_ms:.2f} | {errors} |"
        )
    share = refused_total / flood.result.requests if flood.result.requests else 0.0
    lines += [
        "",
        f"- B's p99, A flooding / A idle: {ratio:.2f}x (goal <= {GOAL_P99_RATIO:.0f}x: {verdict})",
        f"- A sent {flood.result.requests} requests ({flood.result.rps:,.0f}/s, p50 "
        f"{flood.result.p50_ms:.2f} ms, p99 {flood.result.p99_ms:.2f} ms); "
        f"{refused_total} refused ({share:.1%}), {flood.result.socket_errors} socket errors.",
        "",
        "| A's responses: status:error | Count |",
        "|---|---:|",
        *(f"| {tag} | {n} |" for tag, n in sorted(flood.statuses.items())),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The knobs: B's load, A's flood, run length."""
    parser = load_arguments(__doc__, connections=2, connections_help="B's connections")
    parser.add_argument("--flood-connections", type=int, default=16, help="A's connections")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Bring the cloud up, measure B alone and beside A's flood, print the markdown."""
    args = parse_args(argv)
    if wrk_missing():
        return 2
    load = Load(args.connections, 1, args.duration, args.warmup)
    command = command_line("bench/noisy_neighbour.py")
    work = Path(tempfile.mkdtemp(prefix="tenantry-noisy-"))
    procs = Processes(work)
    try:
        with terminated_on_sigterm():
            data_dir = work / "cloud"
            up = [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data_dir)]
            proc = procs.start("tenantry-up", up, dict(os.environ), own_group=True)
            cloud = wait_for_cloud(data_dir, proc, procs)
            edge, ca = str(cloud["edges"]["us"]), Path(cloud["ca"])
            flooder = prepare_tenant(edge, ca)
            victim = prepare_tenant(edge, ca)
            alone = run_wrk("B, A idle", edge, load, "/rest/issues", *victim)
            flooded, flood = run_with_flood(
                procs, work, edge, victim, flooder, load, args.flood_connections
            )
            report = render(alone, flooded, flood, load, args.flood_connections, command)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return publish(report, args.output)


if __name__ == "__main__":
    run_main(main)
