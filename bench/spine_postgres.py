"""Measure the spine's full path on PostgreSQL beside the same path on SQLite, in one run.

The full path is spine.py's: a real `tenantry up` edge with every control on (user token, tenant
lookup, per-tenant rate limit raised out of the way but still checked, service token,
tenant-scoped storage), driven by wrk with create-then-read. It runs twice, one cloud after the
other: once on the built-in SQLite files, once with `--config` a topology that gives every shard
a fresh PostgreSQL database on 127.0.0.1:5432, plus a global one, and a role prefix of its own.
The databases and roles are dropped at the end, as are every process the run started.

It prints markdown for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import re
import shutil
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx

# The clean-up of test databases and roles is the test suite's; reuse it rather than copy it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from postgres_server import SERVER, drop_databases_and_roles
from spine import (
    BENCH_TENANT_LIMIT,
    Load,
    Processes,
    WrkResult,
    bench_topology,
    command_line,
    load_arguments,
    machine,
    measure_full_path,
    prepare_tenant,
    publish,
    run_main,
    run_wrk,
    terminated_on_sigterm,
    wait_for_cloud,
    wrk_missing,
)

_SHARD = re.compile(r'\{ name = "([a-z0-9-]+)", zone = "([a-z0-9-]+)" \}')


def database_names(tag: str) -> dict[str, str]:
    """One fresh database name per shard of the built-in topology, and one for global data."""
    regions = tomllib.loads(bench_topology())["regions"]
    shards = [shard["name"] for region in regions.values() for shard in region["shards"]]
    return {s: f"tenantry_bench_{tag}_{s.replace('-', '_')}" for s in ["global", *shards]}


def postgres_topology(databases: dict[str, str], role_prefix: str) -> str:
    """spine.py's topology with every shard, and global data, on its own PostgreSQL database."""

    def with_dsn(match: re.Match[str]) -> str:
        shard, zone = match.groups()
        dsn = f"{SERVER}/{databases[shard]}"
        return f'{{ name = "{shard}", zone = "{zone}", dsn = "{dsn}" }}'

    head = f'[global]\ndsn = "{SERVER}/{databases["global"]}"\n\n'
    head += f'[postgres]\nrole_prefix = "{role_prefix}"\n\n'
    text_ = head + _SHARD.sub(with_dsn, bench_topology())
    parsed = tomllib.loads(text_)
    shards = [s for region in parsed["regions"].values() for s in region["shards"]]
    if not all("dsn" in shard for shard in shards) or len(shards) != len(databases) - 1:
        raise RuntimeError("the built-in topology's shard lines no longer have the known shape")
    return text_


def measure_postgres_path(procs: Processes, work: Path, load: Load, config: Path) -> WrkResult:
    """Bring up a cloud on PostgreSQL, make a tenant, and measure create-then-read."""
    data_dir = work / "cloud"
    argv = [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data_dir)]
    argv += ["--config", str(config)]
    proc = procs.start("tenantry-up", argv, dict(os.environ), own_group=True)
    cloud = wait_for_cloud(data_dir, proc, procs, timeout=180)
    edge = str(cloud["edges"]["us"])
    site, token = prepare_tenant(edge, Path(cloud["ca"]))
    return run_wrk("full path on PostgreSQL", edge, load, "/rest/issues", site, token)


def _row(result: WrkResult, sqlite: WrkResult) -> str:
    ratio = f"{result.rps / sqlite.rps:.2f}x" if sqlite.rps else "-"
    errors = result.failures + result.socket_errors
    return (
        f"| {result.name} | {result.requests} | {result.rps:,.0f} | {ratio} | "
        f"{result.p50_ms:.2f} | {result.p99_ms:.2f} | {errors} |"
    )


def render(sqlite: WrkResult, postgres: WrkResult, load: Load, command: str) -> str:
    """The markdown report: one table, both stores, the same load."""
    cores, model = machine()
    lines = [
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {cores} cores, {model}  ",
        f"Command: `{command}`  ",
        f"Load: wrk {load.threads} threads, {load.connections} connections, "
        f"{load.duration} s measured after {load.warmup} s warm-up, per run; create-then-read "
        "through the us edge of `tenantry up`, per-tenant edge limit raised to "
        f"{BENCH_TENANT_LIMIT}. One cloud at a time.  ",
        "PostgreSQL: the local server on 127.0.0.1:5432, one fresh database per shard and one "
        "for global data, services as their own roles under forced row-level security.",
        "",
        "| Store | Requests | Req/s | vs SQLite | p50 ms | p99 ms | Errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row(sqlite, sqlite),
        _row(postgres, sqlite),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The knobs: run length and load, as spine.py's."""
    parser = load_arguments(__doc__)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the full path on SQLite, then on PostgreSQL; print the markdown."""
    args = parse_args(argv)
    if wrk_missing():
        return 2
    load = Load(args.connections, args.threads, args.duration, args.warmup)
    command = command_line("bench/spine_postgres.py")
    tag = uuid.uuid4().hex[:10]
    role_prefix = f"tb{tag}"
    databases = database_names(tag)
    work = Path(tempfile.mkdtemp(prefix="tenantry-bench-pg-"))
    sqlite_procs = Processes(work)
    (work / "pg").mkdir()
    pg_procs = Processes(work / "pg")
    try:
        with terminated_on_sigterm():
            try:
                measured = measure_full_path(sqlite_procs, work, load)
                sqlite = dataclasses.replace(measured, name="full path on SQLite")
            finally:
                sqlite_procs.stop_all()
            config = work / "pg" / "topology.toml"
            config.write_text(postgres_topology(databases, role_prefix))
            try:
                postgres = measure_postgres_path(pg_procs, work / "pg", load, config)
            finally:
                pg_procs.stop_all()
            report = render(sqlite, postgres, load, command)
    except (RuntimeError, OSError, KeyError, ValueError, httpx.HTTPError) as exc:
        print(f"spine on PostgreSQL failed: {exc}", file=sys.stderr)
        return 1
    finally:
        sqlite_procs.stop_all()
        pg_procs.stop_all()
        drop_databases_and_roles(list(databases.values()), role_prefix)
        shutil.rmtree(work, ignore_errors=True)
    return publish(report, args.output)


if __name__ == "__main__":
    run_main(main)
