"""Measure whether sign-up and the edge stay fast as the catalog grows to 100,000 tenants.

One real `tenantry up` cloud (SQLite files, or with `--postgres` one fresh database per shard on
127.0.0.1:5432) goes through three checkpoints:

1. `--first-tenants` (100) real sign-ups through the us edge;
2. the catalog filled in bulk until one shard, us-1, holds `--shard-tenants` (10,000);
3. the other shards filled in bulk until the catalog holds `--catalog-tenants` (100,000).

At each one, `--signups` more sites sign up through the edge (argon2 and all, `--concurrency` at
a time) and the placement query tcs runs on every sign-up is timed. At the first and the last,
the us edge first looks up every site in the catalog through `/_edge/tenant_info`, so its tenant
cache holds them all, then wrk measures an authenticated listing of one site's issues (a site on
us-1), with one connection and with `--connections`; the p50 ratio 100,000 / 100 is the goal
(at most 1.1). Because minutes pass between the two, the last checkpoint also measures the eu
edge, which has looked up only the first sites, taking turns with the us edge on the same
request: the same ratio with the machine's other work falling on both alike. Edge and tcs
memory (RSS) are read from /proc.

Bulk rows go straight into the services' databases: every bulk tenant gets copies of the rows
sign-up and the API wrote for one real site (its catalog row and change row in tcs, its admin
account in identity), re-keyed to the bulk tenant, and on us-1 also its project with a few of
its issues, so that shard holds the data of 10,000 tenants. Tables are reflected from the
databases, so the copies follow the schema. The change rows go in last, in one transaction, and
a suspension of a real site made after them through `tenantry tenant suspend` shows when the edge
has followed the feed past them all.

It prints markdown for bench/RESULTS.md. Every process it starts is stopped on the way out, and
the PostgreSQL databases and roles it made are dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, MetaData, Table, create_engine, func, insert, select
from sqlalchemy.pool import NullPool

from spine import (
    Load,
    Processes,
    WrkResult,
    bench_topology,
    command_line,
    load_arguments,
    machine,
    parse_wrk,
    publish,
    run_main,
    terminated_on_sigterm,
    wait_for_cloud,
    wrk_missing,
)
from spine_postgres import database_names, drop_databases_and_roles, postgres_topology
from tenantry.platform import tls
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.services.edge.tenant_cache import FEED_WAIT_SECONDS, POSITIVE_TTL_SECONDS

GOAL_P50_RATIO = 1.1
FULL_SHARD = "us-1"
REGION = "us"
# The edge that keeps only the first sites in its cache, measured beside the us edge at the end.
BASELINE_REGION = "eu"
MEASURED_ISSUES = 10
BULK_ISSUES = 3
BATCH = 5000
# Far above what the benchmark sends from its one address, so sign-ups are measured, not refused.
BENCH_CLIENT_LIMIT = "1000000/second;60000000/minute"
_PER_CLIENT_LINE = re.compile(r"^per_client_ip\s*=.*$", re.MULTILINE)

# Looks up every site listed in a file once, through /_edge/tenant_info; threads take turns.
# A thread that has sent its share keeps its connections busy with /_health until its last
# lookup is answered, then says so on stdout and stops; scale.py interrupts wrk when all have.
# wrk calls the first thread's request() once before the run to check it, so that call gets
# /_health rather than a site that would then never be sent.
WARM_LUA = """
local threads = {}
function setup(thread)
   thread:set("offset", #threads)
   table.insert(threads, thread)
end
function init(args)
   local step = tonumber(args[2])
   sites, n = {}, 0
   for line in io.lines(args[1]) do
      if n % step == offset then table.insert(sites, line) end
      n = n + 1
   end
   nxt, answered, found, missing, failed = 1, 0, 0, 0, 0
   health = wrk.format("GET", "/_health")
   checked = offset ~= 0
end
function request()
   if not checked then
      checked = true
      return health
   end
   local site = sites[nxt]
   if site == nil then return health end
   nxt = nxt + 1
   return wrk.format("GET", "/_edge/tenant_info", {["X-Tenantry-Site"] = site})
end
function response(status, headers, body)
   if body:find('"service"', 1, true) then return end
   answered = answered + 1
   if status == 200 then found = found + 1
   elseif status == 404 then missing = missing + 1
   else failed = failed + 1 end
   if answered == #sites then
      io.write("WARM-THREAD-DONE\\n")
      io.flush()
      wrk.thread:stop()
   end
end
function done(summary, latency, requests)
   local f, m, x = 0, 0, 0
   for _, t in ipairs(threads) do
      f, m, x = f + t:get("found"), m + t:get("missing"), x + t:get("failed")
   end
   io.write(string.format("WARM-COUNTS found=%d missing=%d failed=%d\\n", f, m, x))
end
"""

# The same authenticated GET over and over; prints the counts line spine.parse_wrk reads.
READ_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
   req = wrk.format("GET", args[1],
      {["X-Tenantry-Site"] = args[2], ["Authorization"] = "Bearer " .. args[3]})
   reads, failures = 0, 0
end
function request() return req end
function response(status, headers, body)
   if status == 200 then reads = reads + 1 else failures = failures + 1 end
end
function done(summary, latency, requests)
   local r, f = 0, 0
   for _, t in ipairs(threads) do r, f = r + t:get("reads"), f + t:get("failures") end
   io.write(string.format("SPINE-COUNTS creates=0 reads=%d failures=%d unparsed=0\\n", r, f))
end
"""
_WARM_COUNTS = re.compile(r"^WARM-COUNTS found=(\d+) missing=(\d+) failed=(\d+)", re.MULTILINE)


@dataclass
class Cloud:
    """The running cloud as the benchmark reaches it: its us edge, files and databases."""

    data_dir: Path
    edges: dict[str, str]
    ca: Path
    config: dict[str, Any]
    work: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    sites: list[str] = field(default_factory=list)  # every site in the catalog, in order
    engines: dict[tuple[str, str], Engine] = field(default_factory=dict)
    tables: dict[tuple[str, str, str], Table] = field(default_factory=dict)

    @property
    def edge(self) -> str:
        """The edge of the sites' home region: sign-ups and the main measurements go here."""
        return self.edges[REGION]

    def http(self) -> httpx.Client:
        """A client of the us edge that trusts the cloud's CA only."""
        return httpx.Client(
            base_url=self.edge, verify=tls.client_ssl_context(self.ca), timeout=60, trust_env=False
        )

    def pid(self, process: str) -> int:
        """The pid of one of the cloud's processes, from run/pids.json."""
        pids = json.loads((self.data_dir / "run" / "pids.json").read_text())
        return int(pids["children"][process])

    def shard_region(self) -> dict[str, str]:
        """Every shard of the topology, with its region."""
        return {
            shard["name"]: region
            for region, spec in self.config["regions"].items()
            for shard in spec["shards"]
        }

    def engine(self, service: str, shard: str) -> Engine:
        """An engine on a service's database, as its owner: the bulk rows' way in.

        On PostgreSQL it is the administrator's connection (the DSN's superuser, so row-level
        security does not stand in the way of writing many tenants' rows at once).
        """
        key = (service, shard)
        if key not in self.engines:
            if "global" in self.config:
                dsn = (
                    self.config["global"]["dsn"]
                    if shard == GLOBAL_SHARD
                    else next(
                        s["dsn"]
                        for spec in self.config["regions"].values()
                        for s in spec["shards"]
                        if s["name"] == shard
                    )
                )
                url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
                options = {"options": f"-c search_path={service}"}
                self.engines[key] = create_engine(url, connect_args=options, poolclass=NullPool)
            else:
                place = "global" if shard == GLOBAL_SHARD else f"shards/{shard}"
                path = self.data_dir / place / f"{service}.sqlite"
                if not path.exists():
                    raise RuntimeError(f"{path} does not exist yet")
                self.engines[key] = create_engine(
                    f"sqlite:///{path}", connect_args={"timeout": 60}, poolclass=NullPool
                )
        return self.engines[key]

    def table(self, service: str, shard: str, name: str) -> Table:
        """A service's table as its database has it (reflected, so no model is assumed)."""
        key = (service, shard, name)
        if key not in self.tables:
            self.tables[key] = Table(name, MetaData(), autoload_with=self.engine(service, shard))
        return self.tables[key]

    def dispose(self) -> None:
        """Close every engine the benchmark opened."""
        for engine in self.engines.values():
            engine.dispose()
        self.engines.clear()


@dataclass(frozen=True)
class Signups:
    """One batch of sign-ups through the edge."""

    count: int
    seconds: float
    failures: int

    @property
    def per_second(self) -> float:
        """Sign-ups answered 201 per second of wall time."""
        return (self.count - self.failures) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Checkpoint:
    """What one checkpoint measured."""

    name: str
    tenants: int
    on_full_shard: int
    signups: Signups
    placement_ms: float
    fill_seconds: float | None = None
    feed_seconds: float | None = None
    warm_rate: float | None = None
    edge_rss_mib: float | None = None
    tcs_rss_mib: float | None = None
    reads: tuple[WrkResult, ...] = ()  # through the us edge, one per load
    baseline_reads: tuple[WrkResult, ...] = ()  # through the baseline edge, taking turns
    load_average: float | None = None  # while the reads ran


def client_limit_raised(topology: str) -> str:
    """A topology text with the per-client-IP edge limit raised out of the sign-ups' way."""
    line = f'per_client_ip = "{BENCH_CLIENT_LIMIT}"'
    text, replaced = _PER_CLIENT_LINE.subn(line, topology)
    limits = tomllib.loads(text).get("edge", {}).get("limits", {})
    if replaced != 1 or limits.get("per_client_ip") != BENCH_CLIENT_LIMIT:
        raise RuntimeError("the topology no longer has one [edge.limits] per_client_ip line")
    return text


def start_cloud(procs: Processes, work: Path, topology: str, timeout: float) -> Cloud:
    """`tenantry up` on a fresh data directory with `topology`; the cloud once it is healthy."""
    data_dir = work / "cloud"
    config_path = work / "topology.toml"
    config_path.write_text(topology)
    argv = [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data_dir)]
    argv += ["--config", str(config_path)]
    proc = procs.start("tenantry-up", argv, dict(os.environ), own_group=True)
    published = wait_for_cloud(data_dir, proc, procs, timeout=timeout)
    return Cloud(
        data_dir=data_dir,
        edges={str(region): str(url) for region, url in published["edges"].items()},
        ca=Path(published["ca"]),
        config=tomllib.loads(topology),
        work=work,
    )


def sign_up(cloud: Cloud, names: Sequence[str], concurrency: int) -> Signups:
    """Sign every name up through the edge, `concurrency` at a time; time the whole batch."""
    pending = iter(names)
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        with cloud.http() as http:
            while True:
                with lock:
                    site = next(pending, None)
                if site is None:
                    return
                body = {
                    "site": site,
                    "email": f"admin@{site}.test",
                    "password": cloud.password,
                    "region": REGION,
                }
                try:
                    response = http.post("/signup", json=body)
                    ok = response.status_code == 201
                    detail = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, repr(exc)
                with lock:
                    if ok:
                        cloud.sites.append(site)
                    else:
                        failures.append(f"{site}: {detail}")

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    seconds = time.monotonic() - started
    for failure in failures[:3]:
        print(f"sign-up failed: {failure}", file=sys.stderr)
    return Signups(len(names), seconds, len(failures))


def log_in(cloud: Cloud, site: str) -> str:
    """A fresh user token for the admin of `site`."""
    with cloud.http() as http:
        body = {"site": site, "email": f"admin@{site}.test", "password": cloud.password}
        response = http.post("/login", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"login of {site}: {response.status_code} {response.text}")
    return str(response.json()["token"])


def prepare_measured_site(cloud: Cloud) -> tuple[str, str]:
    """The real site on us-1 whose issues are listed, with its project; and a canary site."""
    tenants = cloud.table("tcs", GLOBAL_SHARD, "tenants")
    with cloud.engine("tcs", GLOBAL_SHARD).connect() as connection:
        on_shard = set(
            connection.execute(select(tenants.c.site).where(tenants.c.shard == FULL_SHARD))
            .scalars()
            .all()
        )
    candidates = [site for site in cloud.sites if site in on_shard]
    if len(candidates) < 2:
        raise RuntimeError(f"fewer than two real sites landed on {FULL_SHARD}")
    site, canary = candidates[0], candidates[1]
    headers = {"X-Tenantry-Site": site, "Authorization": f"Bearer {log_in(cloud, site)}"}
    with cloud.http() as http:
        made = http.post(
            "/rest/issues/projects", json={"key": "BEN", "name": "Bench"}, headers=headers
        )
        if made.status_code != 201:
            raise RuntimeError(f"create project: {made.status_code} {made.text}")
        for number in range(MEASURED_ISSUES):
            issue = {"project": "BEN", "summary": f"issue {number}", "description": "d"}
            created = http.post("/rest/issues/issues", json=issue, headers=headers)
            if created.status_code != 201:
                raise RuntimeError(f"create issue: {created.status_code} {created.text}")
    return site, canary


def catalog_counts(cloud: Cloud) -> dict[str, int]:
    """Tenants per shard, read from tcs's database."""
    tenants = cloud.table("tcs", GLOBAL_SHARD, "tenants")
    with cloud.engine("tcs", GLOBAL_SHARD).connect() as connection:
        rows = connection.execute(
            select(tenants.c.shard, func.count()).group_by(tenants.c.shard)
        ).all()
    return {str(shard): int(count) for shard, count in rows}


def placement_ms(cloud: Cloud, rounds: int = 21) -> float:
    """Median time of the per-shard count `Catalog.create` runs before every sign-up."""
    shards = [s for s, region in cloud.shard_region().items() if region == REGION]
    tenants = cloud.table("tcs", GLOBAL_SHARD, "tenants")
    query = (
        select(tenants.c.shard, func.count())
        .where(tenants.c.shard.in_(shards))
        .group_by(tenants.c.shard)
    )
    samples = []
    with cloud.engine("tcs", GLOBAL_SHARD).connect() as connection:
        for _ in range(rounds):
            started = time.perf_counter()
            connection.execute(query).all()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        for batch in _batches(rows):
            connection.execute(insert(table), batch)


def _rows(cloud: Cloud, service: str, shard: str, name: str, **equal: Any) -> list[dict[str, Any]]:
    table = cloud.table(service, shard, name)
    query = select(table).where(*(table.c[column] == value for column, value in equal.items()))
    with cloud.engine(service, shard).connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


@dataclass(frozen=True)
class Templates:
    """One real site's rows, which every bulk tenant gets a copy of, re-keyed to itself."""

    catalog: dict[str, Any]
    change: dict[str, Any]
    accounts: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    issues: list[dict[str, Any]]


def read_templates(cloud: Cloud, site: str) -> Templates:
    """The rows sign-up and the API wrote for `site`: catalog, change, account, project, issues.

    Copies keep every column as the services wrote it (sealed ones included, which then do not
    open for the copy; nothing reads those), so the fill follows the schema wherever it goes.
    """
    (catalog,) = _rows(cloud, "tcs", GLOBAL_SHARD, "tenants", site=site)
    cloud_id = catalog["cloud_id"]
    change = max(_rows(cloud, "tcs", GLOBAL_SHARD, "changes", site=site), key=lambda r: r["seq"])
    del change["seq"]
    accounts = _rows(cloud, "identity", GLOBAL_SHARD, "accounts", tenant_id=cloud_id)
    projects = _rows(cloud, "issues", FULL_SHARD, "projects", tenant_id=cloud_id)
    issues = sorted(
        _rows(cloud, "issues", FULL_SHARD, "issues", tenant_id=cloud_id), key=lambda r: r["number"]
    )[:BULK_ISSUES]
    for project in projects:
        if "last_number" in project:
            project["last_number"] = len(issues)
    if not accounts or not projects or not issues:
        raise RuntimeError(f"{site} has no account, project or issues to copy")
    return Templates(catalog, change, accounts, projects, issues)


def bulk_fill(
    cloud: Cloud, per_shard: dict[str, int], templates: Templates
) -> list[dict[str, Any]]:
    """Add bulk tenants: catalog rows, admin accounts, and a project with issues on us-1.

    Returns the change rows still to be published (`publish_changes`), so the edges learn of
    them all at once.
    """
    region_of = cloud.shard_region()
    catalog_rows, account_rows, project_rows, issue_rows, change_rows = [], [], [], [], []
    number = len(cloud.sites)
    for shard, count in per_shard.items():
        for _ in range(count):
            site = f"bulk-{number:06d}"
            number += 1
            cloud_id = str(uuid.uuid4())
            cloud.sites.append(site)
            named = {"cloud_id": cloud_id, "site": site}
            catalog_rows.append(
                {**templates.catalog, **named, "region": region_of[shard], "shard": shard}
            )
            change_rows.append({**templates.change, **named})
            account_rows += [
                {**row, "tenant_id": cloud_id, "account_id": uuid.uuid4().hex}
                for row in templates.accounts
            ]
            if shard == FULL_SHARD:
                project_rows += [{**row, "tenant_id": cloud_id} for row in templates.projects]
                issue_rows += [
                    {**row, "tenant_id": cloud_id, "id": uuid.uuid4().hex}
                    for row in templates.issues
                ]
    _insert(
        cloud.engine("tcs", GLOBAL_SHARD), cloud.table("tcs", GLOBAL_SHARD, "tenants"), catalog_rows
    )
    identity = cloud.table("identity", GLOBAL_SHARD, "accounts")
    _insert(cloud.engine("identity", GLOBAL_SHARD), identity, account_rows)
    if project_rows:
        issues_engine = cloud.engine("issues", FULL_SHARD)
        _insert(issues_engine, cloud.table("issues", FULL_SHARD, "projects"), project_rows)
        _insert(issues_engine, cloud.table("issues", FULL_SHARD, "issues"), issue_rows)
    return change_rows


def _tenant_info(http: httpx.Client, site: str) -> int:
    return http.get("/_edge/tenant_info", headers={"X-Tenantry-Site": site}).status_code


def _set_status(cloud: Cloud, site: str, action: str) -> None:
    argv = [sys.executable, "-m", "tenantry", "tenant", action, site]
    argv += ["--data-dir", str(cloud.data_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"tenantry tenant {action} {site}: {done.stdout}{done.stderr}")


def _wait_status(http: httpx.Client, site: str, status: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _tenant_info(http, site) != status:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the edge did not answer {status} for {site} in {timeout:.0f} s")
        time.sleep(0.05)


def publish_changes(cloud: Cloud, rows: list[dict[str, Any]], canary: str) -> float:
    """Append the change rows, then wait until the us edge has followed the feed past them.

    The canary is cached at the edge first; it is suspended after the change rows, so the edge
    answers 403 for it only once it has read every change before (or once its entry expired,
    which this rules out by finishing well inside the cache's positive TTL). Returns the
    seconds from the first change row to the edge answering 403.
    """
    with cloud.http() as http:
        if _tenant_info(http, canary) != 200:
            raise RuntimeError(f"the canary {canary} is not active at the edge")
        started = time.monotonic()
        _insert(
            cloud.engine("tcs", GLOBAL_SHARD), cloud.table("tcs", GLOBAL_SHARD, "changes"), rows
        )
        _set_status(cloud, canary, "suspend")
        _wait_status(http, canary, 403, timeout=POSITIVE_TTL_SECONDS)
        seconds = time.monotonic() - started
        if seconds > POSITIVE_TTL_SECONDS - 10:
            # The canary could have left the cache by age, so give the feed its full wait.
            print("feed check inconclusive; waiting out the feed instead", file=sys.stderr)
            time.sleep(3 * FEED_WAIT_SECONDS)
        _set_status(cloud, canary, "resume")
        _wait_status(http, canary, 200, timeout=POSITIVE_TTL_SECONDS)
    return seconds


def warm_edge(
    cloud: Cloud, edge: str, sites: Sequence[str], connections: int = 16, threads: int = 2
) -> float:
    """Look every one of `sites` up through `edge` once; lookups per second."""
    sites_file = cloud.work / "sites.txt"
    sites_file.write_text("\n".join(sites) + "\n")
    script = cloud.work / "warm.lua"
    script.write_text(WARM_LUA)
    threads = max(1, min(threads, len(sites)))
    connections = max(threads, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", "-d3600s", "--timeout", "10s"]
    argv += ["-s", str(script), edge, "--", str(sites_file), str(threads)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(1800, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        finished = 0
        for line in proc.stdout:
            if line.startswith("WARM-THREAD-DONE"):
                finished += 1
                if finished == threads:
                    break
        seconds = time.monotonic() - started
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    counts = _WARM_COUNTS.search(rest)
    if finished != threads or counts is None:
        raise RuntimeError(f"warming the edge failed:\n{rest}\n{errors}")
    found, missing, failed = (int(n) for n in counts.groups())
    if found != len(sites) or missing or failed:
        raise RuntimeError(
            f"warming the edge: {found} found, {missing} unknown, {failed} failed "
            f"of {len(sites)} sites"
        )
    return len(sites) / seconds


def rss_mib(pid: int) -> float:
    """Resident memory of one process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _wrk_reads(cloud: Cloud, edge: str, load: Load, seconds: int, args: list[str]) -> str:
    script = cloud.work / "read.lua"
    script.write_text(READ_LUA)
    argv = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{seconds}s"]
    argv += ["--timeout", "5s", "--latency", "-s", str(script), edge, "--", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed against {edge}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _combined(name: str, runs: Sequence[WrkResult]) -> WrkResult:
    """Several runs as one row: counts added up, p50 and p99 the medians of the runs' own."""
    return WrkResult(
        name=name,
        requests=sum(run.requests for run in runs),
        rps=statistics.mean(run.rps for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=statistics.median(run.p99_ms for run in runs),
        creates=0,
        reads=sum(run.reads for run in runs),
        failures=sum(run.failures for run in runs),
        socket_errors=sum(run.socket_errors for run in runs),
    )


def measure_reads(
    cloud: Cloud, site: str, load: Load, rounds: int, edges: Sequence[str]
) -> tuple[list[WrkResult], float]:
    """wrk: the listing of the site's issues through each edge, and the mean load average.

    Each edge gets a warm-up, then `rounds` runs, the edges taking turns run by run so that
    other work on the machine falls on all of them alike. p50 and p99 are the medians of the
    runs' own, so one burst of such work moves one run rather than the figure.
    """
    args = ["/rest/issues/issues?project=BEN", site, log_in(cloud, site)]
    for edge in edges:
        if load.warmup > 0:
            _wrk_reads(cloud, edge, load, load.warmup, args)
    runs: dict[str, list[WrkResult]] = {edge: [] for edge in edges}
    load_averages = []
    for _ in range(max(1, rounds)):
        for edge in edges:
            output = _wrk_reads(cloud, edge, load, load.duration, args)
            runs[edge].append(parse_wrk(edge, output))
            load_averages.append(os.getloadavg()[0])
    results = [_combined(edge, runs[edge]) for edge in edges]
    return results, statistics.mean(load_averages)


@dataclass(frozen=True)
class Plan:
    """How far to fill and how hard to measure."""

    first: int
    shard: int
    catalog: int
    signups: int
    concurrency: int
    loads: tuple[Load, ...]
    rounds: int


def signup_names(cloud: Cloud, count: int, tag: str) -> list[str]:
    """Fresh site names for one batch of real sign-ups."""
    start = len(cloud.sites)
    return [f"real-{tag}-{start + n:06d}" for n in range(count)]


def checkpoint(
    cloud: Cloud,
    plan: Plan,
    name: str,
    tag: str,
    measured: str | None = None,
    baseline_edge: str | None = None,
    **filled: Any,
) -> Checkpoint:
    """Optionally warm the edge and measure reads, then measure sign-ups and placement.

    `tag` goes into the names of the checkpoint's sign-ups. With `baseline_edge`, that edge
    is warmed with the first `plan.first` sites only and measured taking turns with the us edge.
    """
    counts = catalog_counts(cloud)
    tenants_now, on_shard = sum(counts.values()), counts.get(FULL_SHARD, 0)
    extra: dict[str, Any] = dict(filled)
    if measured is not None:
        extra["warm_rate"] = warm_edge(cloud, cloud.edge, cloud.sites)
        extra["edge_rss_mib"] = rss_mib(cloud.pid(f"edge-{REGION}"))
        extra["tcs_rss_mib"] = rss_mib(cloud.pid("tcs"))
        edges = [cloud.edge]
        if baseline_edge is not None:
            warm_edge(cloud, cloud.edges[baseline_edge], cloud.sites[: plan.first])
            edges.insert(0, cloud.edges[baseline_edge])
        reads, baseline, load_averages = [], [], []
        for load in plan.loads:
            results, load_average = measure_reads(cloud, measured, load, plan.rounds, edges)
            reads.append(results[-1])
            baseline += results[:-1]
            load_averages.append(load_average)
        extra["reads"], extra["baseline_reads"] = tuple(reads), tuple(baseline)
        extra["load_average"] = statistics.mean(load_averages)
    place = placement_ms(cloud)
    signups = sign_up(cloud, signup_names(cloud, plan.signups, tag), plan.concurrency)
    print(
        f"checkpoint {name}: {tenants_now:,} tenants, {signups.per_second:.1f} sign-ups/s",
        file=sys.stderr,
    )
    return Checkpoint(name, tenants_now, on_shard, signups, place, **extra)


def run(cloud: Cloud, plan: Plan) -> list[Checkpoint]:
    """The three checkpoints, in order, on one cloud."""
    first = sign_up(cloud, signup_names(cloud, plan.first, "a"), plan.concurrency)
    if first.failures:
        raise RuntimeError(f"{first.failures} of the first {plan.first} sign-ups failed")
    measured, canary = prepare_measured_site(cloud)
    results = [checkpoint(cloud, plan, f"{plan.first} signed up", "b", measured)]
    templates = read_templates(cloud, measured)

    counts = catalog_counts(cloud)
    started = time.monotonic()
    rows = bulk_fill(cloud, {FULL_SHARD: max(0, plan.shard - counts.get(FULL_SHARD, 0))}, templates)
    fill_seconds = time.monotonic() - started
    feed = publish_changes(cloud, rows, canary)
    name = f"{FULL_SHARD} filled"
    results.append(checkpoint(cloud, plan, name, "c", fill_seconds=fill_seconds, feed_seconds=feed))

    counts = catalog_counts(cloud)
    others = [shard for shard in cloud.shard_region() if shard != FULL_SHARD]
    missing = max(0, plan.catalog - sum(counts.values()))
    per_shard = {shard: missing // len(others) for shard in others}
    for shard in others[: missing % len(others)]:
        per_shard[shard] += 1
    started = time.monotonic()
    rows = bulk_fill(cloud, per_shard, templates)
    fill_seconds = time.monotonic() - started
    feed = publish_changes(cloud, rows, canary)
    results.append(
        checkpoint(
            cloud,
            plan,
            "catalog filled",
            "d",
            measured,
            BASELINE_REGION,
            fill_seconds=fill_seconds,
            feed_seconds=feed,
        )
    )
    return results


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def _optional(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def _verdict(
    what: str, loads: Sequence[Load], low: Sequence[WrkResult], high: Sequence[WrkResult]
) -> str:
    ratios = [
        (load.connections, b.p50_ms / a.p50_ms) for load, a, b in zip(loads, low, high, strict=True)
    ]
    verdict = "met" if all(ratio <= GOAL_P50_RATIO for _, ratio in ratios) else "MISSED"
    shown = ", ".join(f"{n} connection{'s' if n > 1 else ''} {r:.2f}x" for n, r in ratios)
    return f"- {what}: {shown} (goal <= {GOAL_P50_RATIO}x: {verdict})"


def render(results: Sequence[Checkpoint], plan: Plan, store: str, command: str) -> str:
    """The markdown report: sign-up per checkpoint, edge latency and memory, verdicts."""
    cores, model = machine()
    first, last = results[0], results[-1]
    base = first.signups.per_second
    lines = [
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {cores} cores, {model}  ",
        f"Command: `{command}`  ",
        f"Cloud: `tenantry up` on {store}, the built-in topology with the edge limits per tenant "
        "and per client address raised out of the way (still checked on every request).  ",
        f"Sign-ups: {plan.signups} per checkpoint through the us edge, {plan.concurrency} at a "
        f"time, region us. Bulk tenants: a catalog row, a change row and an admin account each; "
        f"those on {FULL_SHARD} also one project with {BULK_ISSUES} issues.",
        "",
        "| Checkpoint | Catalog tenants | On us-1 | Bulk fill s | Edge caught up s "
        "| Placement query ms | Sign-ups/s | vs first | Failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in results:
        lines.append(
            f"| {point.name} | {point.tenants:,} | {point.on_full_shard:,} | "
            f"{_optional(point.fill_seconds, '.1f')} | {_optional(point.feed_seconds, '.1f')} | "
            f"{point.placement_ms:.2f} | {point.signups.per_second:.1f} | "
            f"{_ratio(point.signups.per_second, base)} | {point.signups.failures} |"
        )
    lines += [
        "",
        f"Edge: every site in the catalog looked up once through `/_edge/tenant_info` first, "
        f"then `GET /rest/issues/issues?project=BEN` of one site on {FULL_SHARD} "
        f"({MEASURED_ISSUES} issues) with wrk: {plan.loads[0].warmup} s warm-up, then "
        f"{plan.rounds} runs of {plan.loads[0].duration} s per row; p50 and p99 are the medians "
        "of the runs' own. Load average: the machine's 1-minute figure during the runs.",
        "",
        "| Tenants (catalog and us edge cache) | Connections | Requests | Req/s | p50 ms | p99 ms "
        "| Errors | Load average |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in (first, last):
        for result, load in zip(point.reads, plan.loads, strict=True):
            errors = result.failures + result.socket_errors
            lines.append(
                f"| {point.tenants:,} | {load.connections} | {result.requests} | "
                f"{result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | {errors} | "
                f"{_optional(point.load_average, '.1f')} |"
            )
    lines += [
        "",
        f"Side by side, at {last.tenants:,} tenants: the {BASELINE_REGION} edge, which has looked "
        f"up only the first {plan.first} sites, and the {REGION} edge, which has looked up all "
        f"of them, serve the same listing of the same {REGION} site (the {BASELINE_REGION} edge "
        "forwards it to its home region), their runs taking turns.",
        "",
        f"| Connections | {BASELINE_REGION} edge p50 ms | {REGION} edge p50 ms | ratio "
        f"| {BASELINE_REGION} edge p99 ms | {REGION} edge p99 ms |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for load, low, high in zip(plan.loads, last.baseline_reads, last.reads, strict=True):
        lines.append(
            f"| {load.connections} | {low.p50_ms:.2f} | {high.p50_ms:.2f} | "
            f"{_ratio(high.p50_ms, low.p50_ms)} | {low.p99_ms:.2f} | {high.p99_ms:.2f} |"
        )
    lines += [
        "",
        f"| | {first.tenants:,} tenants | {last.tenants:,} tenants | ratio |",
        "|---|---:|---:|---:|",
    ]
    for label, low_value, high_value in (
        ("edge-us RSS MiB", first.edge_rss_mib, last.edge_rss_mib),
        ("tcs RSS MiB", first.tcs_rss_mib, last.tcs_rss_mib),
        ("edge cache fill, lookups/s", first.warm_rate, last.warm_rate),
    ):
        ratio = _ratio(high_value, low_value) if low_value and high_value else "-"
        lines.append(
            f"| {label} | {_optional(low_value, ',.0f')} | {_optional(high_value, ',.0f')} "
            f"| {ratio} |"
        )
    errors = sum(
        r.failures + r.socket_errors for p in (first, last) for r in (*p.reads, *p.baseline_reads)
    )
    lines += [
        "",
        _verdict(
            f"Edge p50, {last.tenants:,} / {first.tenants:,} tenants, same edge minutes apart",
            plan.loads,
            first.reads,
            last.reads,
        ),
        _verdict(
            f"Edge p50, {REGION} edge caching {last.tenants:,} sites / {BASELINE_REGION} edge "
            f"caching {plan.first}, side by side",
            plan.loads,
            last.baseline_reads,
            last.reads,
        ),
        f"- Sign-ups/s, {last.tenants:,} / {first.tenants:,} tenants: "
        f"{_ratio(last.signups.per_second, base)} (no goal set; reported)",
    ]
    if first.edge_rss_mib and last.edge_rss_mib and last.tenants > first.tenants:
        grown = (last.edge_rss_mib - first.edge_rss_mib) * 1024 * 1024
        each = grown / (last.tenants - first.tenants)
        lines.append(
            f"- Edge memory: {grown / 1024 / 1024:+,.0f} MiB for "
            f"{last.tenants - first.tenants:,} more cached sites, about {each:,.0f} bytes each."
        )
    if errors:
        lines.append(f"- The latency runs had {errors} errors; their figures are not comparable.")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The knobs: store, how far to fill, how many sign-ups, latency run length."""
    parser = load_arguments(
        __doc__, connections=4, connections_help="the latency run's few connections (and 1)"
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL on 127.0.0.1:5432")
    parser.add_argument("--first-tenants", type=int, default=100)
    parser.add_argument("--shard-tenants", type=int, default=10_000)
    parser.add_argument("--catalog-tenants", type=int, default=100_000)
    parser.add_argument("--signups", type=int, default=150, help="measured sign-ups per checkpoint")
    parser.add_argument("--concurrency", type=int, default=4, help="sign-ups in flight")
    parser.add_argument("--rounds", type=int, default=3, help="measured wrk runs per row")
    parser.set_defaults(duration=5)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Bring the cloud up, run the checkpoints, print the markdown."""
    args = parse_args(argv)
    if wrk_missing():
        return 2
    loads = (Load(1, 1, args.duration, args.warmup),)
    if args.connections > 1:
        loads += (Load(args.connections, min(2, args.connections), args.duration, args.warmup),)
    plan = Plan(
        args.first_tenants,
        args.shard_tenants,
        args.catalog_tenants,
        args.signups,
        args.concurrency,
        loads,
        args.rounds,
    )
    command = command_line("bench/scale.py")
    tag = uuid.uuid4().hex[:10]
    role_prefix = f"ts{tag}"
    databases = database_names(tag) if args.postgres else {}
    work = Path(tempfile.mkdtemp(prefix="tenantry-scale-"))
    procs = Processes(work)
    cloud: Cloud | None = None
    started = time.monotonic()
    try:
        with terminated_on_sigterm():
            if args.postgres:
                topology = postgres_topology(databases, role_prefix)
                store = "PostgreSQL (127.0.0.1:5432, one fresh database per shard and one global)"
            else:
                topology, store = bench_topology(), "SQLite files"
            cloud = start_cloud(
                procs, work, client_limit_raised(topology), 180 if args.postgres else 90
            )
            results = run(cloud, plan)
            report = render(results, plan, store, command)
    except (RuntimeError, OSError, KeyError, ValueError, httpx.HTTPError) as exc:
        print(f"scale benchmark failed: {exc}", file=sys.stderr)
        print(procs.log_tail("tenantry-up"), file=sys.stderr)
        return 1
    finally:
        if cloud is not None:
            cloud.dispose()
        procs.stop_all()
        if databases:
            drop_databases_and_roles(list(databases.values()), role_prefix)
        shutil.rmtree(work, ignore_errors=True)
    print(f"(run took {time.monotonic() - started:.0f} s)", file=sys.stderr)
    return publish(report, args.output)


if __name__ == "__main__":
    run_main(main)
