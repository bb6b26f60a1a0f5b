"""The conversion sandbox: no network, kernel limits, a clean environment, and a killing timeout."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tenantry.services.media.previews.sandbox import (
    SandboxLimits,
    namespace_flags,
    run_sandboxed,
)

from .conftest import Spy

LIMITS = SandboxLimits(
    timeout=30, cpu_seconds=30, memory_bytes=1 << 30, file_bytes=1 << 20, open_files=256
)
ENV = {"PATH": "/usr/bin:/bin"}

FETCH = """
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=5).read()
    print("fetched")
except OSError as exc:
    print("no network:", exc)
"""


def test_a_network_namespace_is_available() -> None:
    assert "--net" in namespace_flags()


def test_the_sandbox_cannot_reach_a_server_on_loopback(tmp_path: Path, spy_server: Spy) -> None:
    url = f"{spy_server.url}/ping"
    script = tmp_path / "fetch.py"
    script.write_text(FETCH)

    outcome = run_sandboxed(
        [sys.executable, str(script), url], workdir=tmp_path, env=ENV, limits=LIMITS
    )

    assert outcome.returncode == 0
    assert "no network" in outcome.output
    assert spy_server.requests == []
    # The same script outside the sandbox does reach the server, so the test can fail.
    unconfined = subprocess.run(
        [sys.executable, str(script), url], capture_output=True, text=True, check=True
    )
    assert "fetched" in unconfined.stdout
    assert spy_server.requests == ["/ping"]


def test_the_wall_clock_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    straggler = "sleep 299.25"  # a command line no other process has
    control = subprocess.Popen(straggler.split())
    try:
        assert _running(straggler)  # the check below can see such a process
    finally:
        control.kill()
        control.wait()
    command = ["sh", "-c", f"{straggler} & wait"]

    outcome = run_sandboxed(
        command, workdir=tmp_path, env=ENV, limits=dataclasses.replace(LIMITS, timeout=1)
    )

    assert outcome.timed_out
    assert outcome.returncode is None
    assert not _running(straggler)


def test_the_file_size_limit_stops_a_runaway_writer(tmp_path: Path) -> None:
    outcome = run_sandboxed(
        ["sh", "-c", "head -c 5000000 /dev/zero > big.bin"],
        workdir=tmp_path,
        env=ENV,
        limits=LIMITS,
    )

    assert outcome.returncode != 0
    assert (tmp_path / "big.bin").stat().st_size <= 1 << 20


def test_the_memory_limit_stops_a_runaway_allocation(tmp_path: Path) -> None:
    outcome = run_sandboxed(
        [sys.executable, "-c", "x = bytearray(2 << 30)"],
        workdir=tmp_path,
        env=ENV,
        limits=LIMITS,
    )

    assert outcome.returncode != 0
    assert "MemoryError" in outcome.output


def test_nothing_of_the_caller_environment_is_passed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")

    outcome = run_sandboxed(["env"], workdir=tmp_path, env=ENV, limits=LIMITS)

    assert "do-not-leak" not in outcome.output
    assert "PATH=/usr/bin:/bin" in outcome.output


def _running(command: str) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            state = next(
                line
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if cmdline == command and "zombie" not in state:
            return True
    return False
