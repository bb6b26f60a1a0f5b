"""Start the cloud's service processes and make sure none outlives the `up` that started them.

Each child runs `python -m tenantry serve ...` with its output appended to its own log file. The
supervisor keeps the Popen handles, so it can tell when one dies, and stops them all with SIGTERM,
then SIGKILL for any that do not exit in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tenantry.cli.datadir import DataDir, read_json, write_json_atomic
from tenantry.cli.plan import ProcessSpec
from tenantry.services.registry import SPECS

STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 20


@dataclass(slots=True)
class Child:
    """A started service process and where its log of this run begins."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_start: int

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this process wrote during this run, for error messages."""
        return read_log_tail(self.log_path, self.log_start, lines)


def read_log_tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of `path` after byte offset `start` (empty if there are none)."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def serve_command(spec: ProcessSpec, data_dir: DataDir, topology: Path | None) -> list[str]:
    """The command line of one service process; `topology` is None for the built-in one."""
    command = [
        sys.executable,
        "-m",
        "tenantry",
        "serve",
        spec.service,
        "--region",
        spec.region,
        "--data-dir",
        str(data_dir.root),
        "--port",
        str(spec.port),
    ]
    return command if topology is None else [*command, "--config", str(topology)]


PRIVATE_ENVIRONMENT = {
    spec.name: spec.private_env_prefix for spec in SPECS if spec.private_env_prefix is not None
}
"""Variables with these prefixes (such as the media store's location and credentials) reach the
named service's processes only."""


def service_environment(service: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a child of `service` starts with: `up`'s, less other services' secrets."""
    withheld = tuple(p for owner, p in PRIVATE_ENVIRONMENT.items() if owner != service)
    return {name: value for name, value in environ.items() if not name.startswith(withheld)}


class Supervisor:
    """Owns the children of one `up`: starts them, notices deaths, and stops them all."""

    def __init__(self, data_dir: DataDir, topology: Path | None = None) -> None:
        self.data_dir = data_dir
        self.topology = topology
        self.children: list[Child] = []

    def start(self, spec: ProcessSpec) -> Child:
        """Start one service process, appending its stdout and stderr to its log file."""
        log_path = self.data_dir.log_file(spec.name)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            log_start = log.seek(0, os.SEEK_END)
            env = {**service_environment(spec.service, os.environ), "PYTHONUNBUFFERED": "1"}
            popen = subprocess.Popen(
                serve_command(spec, self.data_dir, self.topology),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                # Same process group as `up`: a Ctrl-C in its terminal reaches every child too.
                start_new_session=False,
            )
        child = Child(spec, popen, log_path, log_start)
        self.children.append(child)
        self._write_pids()
        return child

    def exited(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((c for c in self.children if c.popen.poll() is not None), None)

    def _write_pids(self) -> None:
        """Record every child's pid, so a later `up` can find them if this one is killed."""
        children = {c.spec.name: c.popen.pid for c in self.children}
        write_json_atomic(self.data_dir.pids_file, {"up": os.getpid(), "children": children})

    def stop_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM every running child, wait up to `grace` seconds, then SIGKILL the rest."""
        for child in self.children:
            if child.popen.poll() is None:
                child.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait()
        self.data_dir.pids_file.unlink(missing_ok=True)


def stop_leftovers(data_dir: DataDir, grace: float = STOP_GRACE_SECONDS) -> list[str]:
    """Stop service processes that an `up` killed without cleanup left running; name them.

    Only a pid whose command line is still a `tenantry serve` of this data directory is touched,
    so a recycled pid belonging to something else is left alone. Call it holding the `up` lock.
    """
    try:
        recorded = read_json(data_dir.pids_file).get("children")
    except (OSError, ValueError):
        return []
    if not isinstance(recorded, dict):
        return []
    leftovers = {
        name: pid
        for name, pid in recorded.items()
        if isinstance(pid, int) and _is_serve_of(pid, data_dir)
    }
    for pid in leftovers.values():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(
        _is_serve_of(p, data_dir) for p in leftovers.values()
    ):
        time.sleep(0.1)
    for pid in leftovers.values():
        if _is_serve_of(pid, data_dir):
            _signal(pid, signal.SIGKILL)
    data_dir.pids_file.unlink(missing_ok=True)
    return sorted(leftovers)


def _is_serve_of(pid: int, data_dir: DataDir) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [part.decode(errors="replace") for part in argv]
    return "serve" in args and str(data_dir.root) in args and "tenantry" in args


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
