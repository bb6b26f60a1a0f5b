"""Start the cloud's processes, bring back any that dies, and make sure none outlives `up`.

Each child runs `python -m tenantry serve ...` with its output appended to its own log file, and
serves on listening sockets the supervisor bound and keeps: a child that dies is started again
on the same sockets, and connections that arrive meanwhile wait in the kernel's backlog. Each
restart waits a little longer than the last (`FIRST_PAUSE_SECONDS`, doubling up to
`MAX_PAUSE_SECONDS`); a process that dies `MAX_DEATHS` times within `DEATH_WINDOW_SECONDS` is
crash-looping, and stops the cloud. Stopping sends SIGTERM to every child, then SIGKILL to any
that does not exit in time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tenantry.cli.datadir import DataDir, read_json, write_json_atomic
from tenantry.cli.plan import Place, ProcessSpec
from tenantry.services.registry import SPECS

STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 20
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 8.0
MAX_DEATHS = 5
DEATH_WINDOW_SECONDS = 60.0


class CrashLoop(Exception):
    """A process died too often to go on restarting it."""

    def __init__(self, child: Child) -> None:
        super().__init__(child.spec.name)
        self.child = child


@dataclass(slots=True)
class Child:
    """One process of the cloud across its restarts: the running Popen, and its history."""

    spec: ProcessSpec
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_start: int
    restarts: int = 0
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None
    """When a dead child is due to start again; None while it runs."""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines this process wrote during this `up`, for error messages."""
        return read_log_tail(self.log_path, self.log_start, lines)

    @property
    def exit_description(self) -> str:
        """How the last run ended: `code 3`, or `signal SIGKILL`."""
        code = self.popen.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"signal {signal.Signals(-code).name}"
        return f"code {code}"


def read_log_tail(path: Path, start: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of `path` after byte offset `start` (empty if there are none)."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def restart_pause(deaths: int) -> float:
    """The pause before restarting a process that died `deaths` times in the window."""
    return float(min(FIRST_PAUSE_SECONDS * 2 ** max(deaths - 1, 0), MAX_PAUSE_SECONDS))


def serve_command(
    spec: ProcessSpec, data_dir: DataDir, topology: Path | None, fds: Mapping[str, int]
) -> list[str]:
    """The command line of one process; `fds` gives each of its services' listening socket."""
    command = [
        sys.executable,
        "-m",
        "tenantry",
        "serve",
        "--process",
        spec.name,
        "--region",
        spec.region,
        "--data-dir",
        str(data_dir.root),
    ]
    for service in spec.services:
        command += ["--listen", f"{service}={fds[service]}"]
    return command if topology is None else [*command, "--config", str(topology)]


PRIVATE_ENVIRONMENT = {
    spec.name: spec.private_env_prefix for spec in SPECS if spec.private_env_prefix is not None
}
"""Variables with these prefixes (such as the media store's location and credentials) reach the
named service's processes only."""


def service_environment(services: tuple[str, ...], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a process of `services` starts with: `up`'s, less others' secrets."""
    withheld = tuple(p for owner, p in PRIVATE_ENVIRONMENT.items() if owner not in services)
    return {name: value for name, value in environ.items() if not name.startswith(withheld)}


class Supervisor:
    """Owns the children of one `up`: starts them, restarts the dead, and stops them all."""

    def __init__(
        self,
        data_dir: DataDir,
        sockets: Mapping[Place, socket.socket],
        topology: Path | None = None,
        *,
        on_event: Callable[[str], None] = lambda _message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data_dir = data_dir
        self.topology = topology
        self.children: list[Child] = []
        self._sockets = sockets
        self._on_event = on_event
        self._clock = clock

    def start(self, spec: ProcessSpec) -> Child:
        """Start one process, appending its stdout and stderr to its log file."""
        log_path = self.data_dir.log_file(spec.name)
        popen, log_start = self._spawn(spec, log_path)
        child = Child(spec, popen, log_path, log_start)
        self.children.append(child)
        self._write_pids()
        return child

    def _spawn(self, spec: ProcessSpec, log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
        fds = {place.service: self._sockets[place].fileno() for place in spec.places}
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as log:
            log_start = log.seek(0, os.SEEK_END)
            env = {**service_environment(spec.services, os.environ), "PYTHONUNBUFFERED": "1"}
            popen = subprocess.Popen(
                serve_command(spec, self.data_dir, self.topology, fds),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=tuple(fds.values()),
                # Same process group as `up`: a Ctrl-C in its terminal reaches every child too.
                start_new_session=False,
            )
        return popen, log_start

    def check(self) -> None:
        """Notice children that died and start those whose pause is over.

        Raises CrashLoop for a child that died `MAX_DEATHS` times within the window.
        """
        now = self._clock()
        for child in self.children:
            if child.restart_at is None and child.popen.poll() is not None:
                self._died(child, now)
            elif child.restart_at is not None and now >= child.restart_at:
                child.popen, _ = self._spawn(child.spec, child.log_path)
                child.restart_at = None
                child.restarts += 1
                self._write_pids()
                self._on_event(f"{child.spec.name} restarted (restart {child.restarts})")

    def seconds_to_next_restart(self) -> float | None:
        """How long until the next dead child is due to start again; None if none is waiting."""
        due = [child.restart_at for child in self.children if child.restart_at is not None]
        return max(0.001, min(due) - self._clock()) if due else None

    def _died(self, child: Child, now: float) -> None:
        child.deaths = [at for at in child.deaths if now - at < DEATH_WINDOW_SECONDS] + [now]
        if len(child.deaths) >= MAX_DEATHS:
            raise CrashLoop(child)
        pause = restart_pause(len(child.deaths))
        child.restart_at = now + pause
        self._on_event(
            f"{child.spec.name} exited with {child.exit_description}; restarting it in {pause:g} s"
        )

    def running(self, child: Child) -> bool:
        """True while `child`'s current process runs."""
        return child.restart_at is None and child.popen.poll() is None

    def _write_pids(self) -> None:
        """Record every child's pid and restarts, for `status`, and for a later `up` to find
        them if this one is killed."""
        write_json_atomic(
            self.data_dir.pids_file,
            {
                "up": os.getpid(),
                "children": {c.spec.name: c.popen.pid for c in self.children},
                "restarts": {c.spec.name: c.restarts for c in self.children},
                "services": {
                    place.name: c.spec.name for c in self.children for place in c.spec.places
                },
            },
        )

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
