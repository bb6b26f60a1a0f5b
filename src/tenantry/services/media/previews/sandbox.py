"""Run an untrusted-input converter where it can reach no network and cannot outgrow its limits.

The command runs under util-linux tools, each of which execs the next:

- `prlimit` sets CPU seconds, address space, largest file written, open files, and no core dumps;
- `setpriv --pdeathsig KILL` ends it if the process that started it dies;
- `unshare` gives it a network namespace with no interfaces (only a loopback that is down) and,
  where allowed, its own PID namespace, so when its first process dies every process left in it
  dies too. As root plain namespaces are used; otherwise an unprivileged user namespace.

It starts a new session, so a wall-clock timeout kills the whole process group. The environment is
built by the caller from scratch: no variable of the calling service (credentials) is passed on.
When no working namespace set-up exists the sandbox refuses to run rather than run unconfined.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_NAMESPACE_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
    ("--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
    ("--net",),
    ("--user", "--map-root-user", "--net"),
)
_OUTPUT_TAIL = 4096


class SandboxUnavailable(RuntimeError):
    """This machine cannot give a process its own network namespace."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Wall-clock seconds, then per-process kernel limits."""

    timeout: float
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int
    open_files: int


@dataclass(frozen=True, slots=True)
class SandboxOutcome:
    """How the sandboxed command ended; `output` is the tail of what it printed."""

    returncode: int | None
    timed_out: bool
    output: str


def run_sandboxed(
    argv: Sequence[str], *, workdir: Path, env: dict[str, str], limits: SandboxLimits
) -> SandboxOutcome:
    """Run argv in workdir with exactly `env`, no network, the limits, and a wall-clock timeout."""
    command = [*_confinement(limits), *argv]
    log_path = workdir / "sandbox.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
        timed_out = False
        try:
            returncode: int | None = process.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            returncode = None
        finally:
            _kill_group(process.pid)
            process.wait()
    if timed_out:
        returncode = None
    return SandboxOutcome(returncode, timed_out, _tail(log_path))


def namespace_flags() -> tuple[str, ...]:
    """The first `unshare` flag set that works here (probed once per process)."""
    return _probe_namespaces()


def _confinement(limits: SandboxLimits) -> list[str]:
    prlimit, setpriv, unshare = (_tool(name) for name in ("prlimit", "setpriv", "unshare"))
    return [
        prlimit,
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.file_bytes}",
        f"--nofile={limits.open_files}",
        "--core=0",
        "--",
        setpriv,
        "--pdeathsig",
        "KILL",
        "--",
        unshare,
        *namespace_flags(),
        "--",
    ]


@functools.cache
def _probe_namespaces() -> tuple[str, ...]:
    unshare = _tool("unshare")
    true = _tool("true")
    for flags in _NAMESPACE_CANDIDATES:
        try:
            probe = subprocess.run(
                [unshare, *flags, "--", true],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
                env={"PATH": os.defpath},
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return flags
    raise SandboxUnavailable("unshare cannot create a network namespace on this machine")


@functools.cache
def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise SandboxUnavailable(f"{name} (util-linux) is not installed")
    return path


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(path: Path) -> str:
    with path.open("rb") as log:
        log.seek(max(0, path.stat().st_size - _OUTPUT_TAIL))
        return log.read().decode("utf-8", errors="replace")
