"""Measure what tenantry's request spine costs, against a bare floor, in one run.

The machine this runs on is shared and noisy, so absolute numbers mean little; only ratios taken
in the same run do. One run measures, with wrk (16 connections, create-then-read):

1. the baseline: a bare ASGI app doing one SQLite insert per create and one select per read,
   served by `tenantry.platform.server.serve` (uvicorn with httptools and uvloop, strict TLS with
   a certificate from a local CA made by `tenantry.platform.tls`), as tenantry's services are;
2. the full path: the same create-then-read through a real `tenantry up` edge with every control
   on (user token, tenant lookup, rate limit, service token, tenant-scoped storage);
3. the choice of inter-service client: the baseline behind a one-hop pure-ASGI proxy using
   aiohttp, then httpx, each over TLS to the upstream.

It prints markdown for bench/RESULTS.md. Every process it starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

import httpx

from tenantry.platform import tls

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "wrk" / "create_read.lua"
GOAL_RPS_RATIO = 0.5
GOAL_ADDED_P50_MS = 2.0


@dataclass(frozen=True)
class WrkResult:
    """The figures of one wrk run, per request (creates and reads together)."""

    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    creates: int
    reads: int
    failures: int
    socket_errors: int


@dataclass(frozen=True)
class Certs:
    """A CA and one server certificate it signed."""

    ca: Path
    cert: Path
    key: Path


class Processes:
    """Every process the benchmark started, so each can be stopped by its pid on any exit."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._started: list[tuple[subprocess.Popen[bytes], bool, IO[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str], own_group: bool = False
    ) -> subprocess.Popen[bytes]:
        """Start one process with its output going to a log file named after it.

        `own_group` puts a supervisor in a process group of its own, so that if it ignores
        SIGTERM, the children it started can be stopped together with it.
        """
        log = (self._log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_group,
        )
        self._started.append((proc, own_group, log))
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The end of one process's log, for error messages."""
        path = self._log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_all(self) -> None:
        """Stop every started process, newest first: SIGTERM, then SIGKILL after a grace period."""
        for proc, own_group, log in reversed(self._started):
            _stop(proc, own_group)
            log.close()
        self._started.clear()


def _stop(proc: subprocess.Popen[bytes], own_group: bool) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
        return
    except subprocess.TimeoutExpired:
        pass
    with suppress(ProcessLookupError):
        if own_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_certs(tls_dir: Path) -> Certs:
    """Issue a server certificate for 127.0.0.1 from a local CA, as `tenantry up` does."""
    ca = tls.ensure_ca(tls_dir)
    cert, key = tls.ensure_server_cert(tls_dir, "bench", ("127.0.0.1", "localhost"))
    return Certs(ca=ca, cert=cert, key=key)


def app_argv(app: str, port: int, certs: Certs) -> list[str]:
    """The command line serving one bench app with tenantry's own server settings."""
    return [
        sys.executable,
        str(BENCH_DIR / "baseline_app.py"),
        app,
        "--port",
        str(port),
        "--cert",
        str(certs.cert),
        "--key",
        str(certs.key),
    ]


def wait_healthy(
    url: str, context: ssl.SSLContext, proc: subprocess.Popen[bytes], timeout: float = 30
) -> None:
    """Block until GET url answers 200, failing fast if the process died."""
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=context, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process for {url} exited with {proc.returncode}")
            with suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f} s")


def start_app(
    procs: Processes,
    name: str,
    app: str,
    certs: Certs,
    env_extra: dict[str, str],
) -> str:
    """Start one bench app and return its https base URL once it answers."""
    port = free_port()
    env = {**os.environ, **env_extra}
    proc = procs.start(name, app_argv(app, port, certs), env)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_healthy(f"{url}/_health", tls.client_ssl_context(certs.ca), proc)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n--- {name}.log ---\n{procs.log_tail(name)}") from exc
    return url


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*([0-9]+) requests in ", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)"
)
_COUNTS = re.compile(
    r"^SPINE-COUNTS creates=([0-9]+) reads=([0-9]+) failures=([0-9]+) unparsed=([0-9]+)",
    re.MULTILINE,
)


def parse_wrk(name: str, output: str) -> WrkResult:
    """Read requests/s, p50/p99 (from --latency) and the script's counts out of wrk's output."""
    percentiles = {
        m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)] for m in _PERCENTILE.finditer(output)
    }
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    counts = _COUNTS.search(output)
    if rps is None or total is None or counts is None or not {"50", "99"} <= percentiles.keys():
        raise RuntimeError(f"could not parse wrk output for {name}:\n{output}")
    socket_errors = _SOCKET_ERRORS.search(output)
    return WrkResult(
        name=name,
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        creates=int(counts.group(1)),
        reads=int(counts.group(2)),
        failures=int(counts.group(3)) + int(counts.group(4)),
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
    )


@dataclass(frozen=True)
class Load:
    """How hard and how long each measured run drives its target."""

    connections: int
    threads: int
    duration: int
    warmup: int


def run_wrk(
    name: str, base_url: str, load: Load, prefix: str = "", site: str = "", token: str = ""
) -> WrkResult:
    """Warm the target up briefly, then measure it with the create-then-read script."""
    for seconds, keep in ((load.warmup, False), (load.duration, True)):
        if seconds <= 0:
            continue
        argv = [
            "wrk",
            f"-t{load.threads}",
            f"-c{load.connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            base_url,
            "--",
            prefix,
            site,
            token,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed for {name}:\n{done.stdout}\n{done.stderr}")
        if keep:
            if done.stderr.strip():
                print(done.stderr.strip(), file=sys.stderr)
            return parse_wrk(name, done.stdout)
    raise ValueError("the measured run needs a duration above zero")


def wait_for_cloud(
    data_dir: Path, proc: subprocess.Popen[bytes], procs: Processes, timeout: float = 90
) -> dict[str, Any]:
    """Wait for `tenantry up` to write cloud.json, which it does once every service is healthy."""
    path = data_dir / "cloud.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"tenantry up exited with {proc.returncode}\n{procs.log_tail('tenantry-up')}"
            )
        if path.exists():
            with suppress(ValueError):
                cloud: dict[str, Any] = json.loads(path.read_text())
                return cloud
        time.sleep(0.25)
    raise RuntimeError(f"no cloud.json after {timeout:.0f} s\n{procs.log_tail('tenantry-up')}")


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{what}: expected {status}, got {response.status_code}: {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def prepare_tenant(edge: str, ca: Path) -> tuple[str, str]:
    """Sign up a fresh site, log in and create project BEN; return (site, token)."""
    site = f"bench{secrets.token_hex(4)}"
    email = f"bench@{site}.example.com"
    password = secrets.token_urlsafe(24)
    with httpx.Client(base_url=edge, verify=tls.client_ssl_context(ca), timeout=30) as client:
        signup = {"site": site, "email": email, "password": password, "region": "us"}
        _expect(client.post("/signup", json=signup), 201, "signup")
        login = {"site": site, "email": email, "password": password}
        token = str(_expect(client.post("/login", json=login), 200, "login")["token"])
        headers = {"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"}
        project = {"key": "BEN", "name": "Bench"}
        response = client.post("/rest/issues/projects", json=project, headers=headers)
        if response.status_code not in (200, 201):
            _expect(response, 201, "create project")
        issue = {"project": "BEN", "summary": "s", "description": "d"}
        created = _expect(
            client.post("/rest/issues/issues", json=issue, headers=headers), 201, "create issue"
        )
        read = client.get(f"/rest/issues/issues/{created['key']}", headers=headers)
        _expect(read, 200, "read issue")
    return site, token


# Far above what one machine can send, so the limiter is consulted on every request but the
# bench tenant is measured rather than throttled.
BENCH_TENANT_LIMIT = "1000000/second;60000000/minute"
_PER_TENANT_LINE = re.compile(r"^per_tenant\s*=.*$", re.MULTILINE)


def bench_topology() -> str:
    """The built-in topology with the per-tenant rate limit raised out of the bench's way."""
    text = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    text, replaced = _PER_TENANT_LINE.subn(f'per_tenant = "{BENCH_TENANT_LIMIT}"', text)
    limits = tomllib.loads(text).get("edge", {}).get("limits", {})
    if replaced != 1 or limits.get("per_tenant") != BENCH_TENANT_LIMIT:
        raise RuntimeError("the built-in topology no longer has one [edge.limits] per_tenant line")
    return text


def measure_full_path(procs: Processes, work: Path, load: Load) -> WrkResult:
    """Bring up a real cloud, make a tenant, and measure create-then-read through its edge."""
    data_dir = work / "cloud"
    topology = work / "topology.toml"
    topology.write_text(bench_topology())
    argv = [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data_dir)]
    argv += ["--config", str(topology)]
    # Its own process group, so a stuck supervisor's children can be stopped with it.
    proc = procs.start("tenantry-up", argv, dict(os.environ), own_group=True)
    cloud = wait_for_cloud(data_dir, proc, procs)
    edge = str(cloud["edges"]["us"])
    site, token = prepare_tenant(edge, Path(cloud["ca"]))
    return run_wrk("full path: tenantry up edge", edge, load, "/rest/issues", site, token)


def machine() -> tuple[int, str]:
    """The number of cores and the CPU model, for the results header."""
    model = platform.processor() or "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return os.cpu_count() or 0, model


def _row(result: WrkResult, bare: WrkResult | None) -> str:
    added = f"{result.p50_ms - bare.p50_ms:+.2f}" if bare and bare is not result else "-"
    ratio = f"{result.rps / bare.rps:.2f}x" if bare and bare.rps else "-"
    errors = result.failures + result.socket_errors
    return (
        f"| {result.name} | {result.requests} | {result.rps:,.0f} | {ratio} | "
        f"{result.p50_ms:.2f} | {added} | {result.p99_ms:.2f} | {errors} |"
    )


_HEADER = (
    "| Path | Requests | Req/s | vs bare | p50 ms | Added p50 ms | p99 ms | Errors |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|"
)


def render(
    baseline: WrkResult,
    full: WrkResult | None,
    full_error: str | None,
    proxies: Sequence[WrkResult],
    load: Load,
    command: str,
) -> str:
    """The markdown report: run details, the spine table with its goals, the client table."""
    cores, model = machine()
    lines = [
        f"Date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}  ",
        f"Machine: {cores} cores, {model}  ",
        f"Command: `{command}`  ",
        f"Load: wrk {load.threads} threads, {load.connections} connections, "
        f"{load.duration} s measured after {load.warmup} s warm-up, per run; "
        "requests alternate create (POST) and read (GET); figures are per request.  ",
        "Servers: tenantry.platform.server.serve (uvicorn, httptools, uvloop, TLS from "
        "tenantry.platform.tls) for every app.",
        "",
        "## Spine: create then read",
        "",
        _HEADER,
        _row(baseline, baseline),
    ]
    if full is not None:
        lines.append(_row(full, baseline))
        lines += [
            "",
            "- Full path: `tenantry up` with the built-in topology, the per-tenant edge limit "
            f"raised to {BENCH_TENANT_LIMIT} (still checked on every request).",
        ]
        ratio = full.rps / baseline.rps if baseline.rps else 0.0
        added = full.p50_ms - baseline.p50_ms
        rps_ok = "met" if ratio >= GOAL_RPS_RATIO else "MISSED"
        p50_ok = "met" if added <= GOAL_ADDED_P50_MS else "MISSED"
        lines += [
            f"- Req/s ratio full/bare: {ratio:.2f}x (goal >= {GOAL_RPS_RATIO}x: {rps_ok})",
            f"- Added p50: {added:.2f} ms (goal <= {GOAL_ADDED_P50_MS} ms: {p50_ok})",
        ]
        if full.failures or full.socket_errors:
            lines.append("- The full path had errors; its figures are not comparable.")
    else:
        lines += ["", f"- Full path not measured: {full_error}"]
    if proxies:
        lines += [
            "",
            "## Inter-service client: bare app behind one pure-ASGI proxy hop (TLS upstream)",
            "",
            _HEADER,
            _row(baseline, baseline),
            *(_row(result, baseline) for result in proxies),
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def terminated_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception so the cleanup in `finally` blocks still runs."""

    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _shown_path(path: str) -> str:
    """A path as the reader would type it: relative to here when it lies below here."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def command_line(script: str) -> str:
    """The command that reproduces this run, for RESULTS.md."""
    return " ".join([_shown_path(sys.executable), script, *sys.argv[1:]])


def wrk_missing() -> bool:
    """True, after telling the user how to install it, when wrk is not on the PATH."""
    if shutil.which("wrk") is not None:
        return False
    print("wrk is not installed: run `make system-deps`", file=sys.stderr)
    return True


def publish(report: str, output: Path | None) -> int:
    """Print a benchmark's markdown report, write it to `output` if asked; exit status 0."""
    print(report, end="")
    if output:
        output.write_text(report)
    return 0


def run_main(main: Callable[[], int]) -> None:
    """Exit with `main()`'s status; Ctrl-C exits 130 after the benchmark has cleaned up."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)


def load_arguments(
    doc: str | None, *, connections: int = 16, connections_help: str | None = None
) -> argparse.ArgumentParser:
    """The knobs every benchmark script shares: run length, connections, where to write."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=connections, help=connections_help)
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The knobs: run length, load, and which sections to run."""
    parser = load_arguments(__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-full", action="store_true", help="do not start `tenantry up`")
    parser.add_argument("--skip-proxy", action="store_true", help="do not compare clients")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section and print the markdown; exit 1 if a run could not be made."""
    args = parse_args(argv)
    if wrk_missing():
        return 2
    load = Load(args.connections, args.threads, args.duration, args.warmup)
    command = command_line("bench/spine.py")
    work = Path(tempfile.mkdtemp(prefix="tenantry-bench-"))
    procs = Processes(work)
    try:
        with terminated_on_sigterm():
            certs = make_certs(work / "tls")
            env = {"BENCH_DB": str(work / "baseline.sqlite")}
            bare_url = start_app(procs, "baseline", "baseline", certs, env)
            baseline = run_wrk("bare ASGI + SQLite", bare_url, load)
            proxies: list[WrkResult] = []
            if not args.skip_proxy:
                for client in ("aiohttp", "httpx"):
                    env = {"BENCH_UPSTREAM": bare_url, "BENCH_CA": str(certs.ca)}
                    env["BENCH_CLIENT"] = client
                    url = start_app(procs, f"proxy-{client}", "proxy", certs, env)
                    proxies.append(run_wrk(f"bare behind {client} proxy", url, load))
            procs.stop_all()
            full: WrkResult | None = None
            full_error: str | None = "skipped (--skip-full)"
            if not args.skip_full:
                try:
                    full = measure_full_path(procs, work, load)
                except (RuntimeError, OSError, KeyError, ValueError, httpx.HTTPError) as exc:
                    full_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    print(f"full path failed: {exc}", file=sys.stderr)
            report = render(baseline, full, full_error, proxies, load, command)
    finally:
        procs.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print(report, end="")
    if args.output:
        args.output.write_text(report)
    return 0 if full is not None or args.skip_full else 1


if __name__ == "__main__":
    run_main(main)
