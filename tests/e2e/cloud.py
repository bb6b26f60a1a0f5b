"""A real `tenantry up` run as a subprocess, for end-to-end tests to drive like a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from backends import BACKEND, claim_backend, postgres_topology
from tenantry.platform.topology import Topology, load_topology

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 30.0
HTTP_TIMEOUT_SECONDS = 60.0
REGIONS = "regions"
"""The default layout: one process per region and one for the global services."""
FLEET = "fleet"
"""`up --process-per-service`: one process per service and region, as a fleet runs."""


def tenantry(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run one `tenantry` command to completion, with a wide terminal so tables do not wrap."""
    return subprocess.run(
        [sys.executable, "-m", "tenantry", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def _on_test_backend(data_dir: Path, config: Path | None) -> Path | None:
    """On a PostgreSQL test run, the same topology with a fresh database for every shard.

    A topology that names its own databases is left as it is, and stores on no test backend.
    """
    if config is not None and "dsn" in config.read_text():
        return config
    claim_backend("a cloud")
    if BACKEND != "postgres":
        return config
    text, _names = postgres_topology(data_dir, None if config is None else config.read_text())
    path = data_dir.parent / f"{data_dir.name}-topology.toml"
    path.write_text(text)
    return path


def _without_backups(data_dir: Path, config: Path | None) -> Path:
    """The topology (the built-in one by default) with `[backup] enabled = false`.

    Most tests' clouds need no backups, and each region's agent would cost every test process
    CPU for the whole run; the clouds of the tests about backups keep them.
    """
    if config is None:
        text = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    else:
        text = config.read_text()
    text = re.sub(r"^enabled = true\b.*\n", "", text, flags=re.M)
    if re.search(r"^\[backup\]$", text, flags=re.M):
        text = re.sub(r"^\[backup\]\n", "[backup]\nenabled = false\n", text, flags=re.M)
    else:
        text += "\n[backup]\nenabled = false\n"
    assert tomllib.loads(text)["backup"]["enabled"] is False
    path = data_dir.parent / f"{data_dir.name}-no-backups.toml"
    path.write_text(text)
    return path


class Cloud:
    """One running `tenantry up` on its own data directory."""

    def __init__(
        self, data_dir: Path, process: subprocess.Popen[bytes], output: Path, layout: str
    ) -> None:
        self.data_dir = data_dir
        self.process = process
        self.output = output
        self.layout = layout
        self.edges: dict[str, str] = {}
        self.ca = ""

    @classmethod
    def start(
        cls,
        data_dir: Path,
        timeout: float = START_TIMEOUT_SECONDS,
        config: Path | None = None,
        env: dict[str, str] | None = None,
        layout: str = REGIONS,
        backups: bool = False,
    ) -> Cloud:
        """Start `tenantry up --data-dir data_dir` and wait until it publishes `cloud.json`.

        `env` adds variables to the environment `up` (and so its services) starts with;
        `layout` is REGIONS (the default) or FLEET; `backups` runs the backup agents (a test
        about backups, or about every process of a cloud, asks for them).
        """
        data_dir = data_dir.resolve()
        config = _on_test_backend(data_dir, config)
        if not backups:
            config = _without_backups(data_dir, config)
        output = data_dir.parent / f"{data_dir.name}-up.out"
        with output.open("ab") as sink:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tenantry",
                    "up",
                    "--data-dir",
                    str(data_dir),
                    *(["--config", str(config)] if config is not None else []),
                    *(["--process-per-service"] if layout == FLEET else []),
                ],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {}), "COLUMNS": "200"},
            )
        cloud = cls(data_dir, process, output, layout)
        cloud_file = data_dir / "cloud.json"
        deadline = time.monotonic() + timeout
        while not cloud_file.exists():
            if process.poll() is not None:
                raise AssertionError(
                    f"tenantry up exited with {process.returncode}:\n{cloud.output_text()}"
                )
            if time.monotonic() > deadline:
                cloud.stop(check=False)
                raise AssertionError(f"no cloud.json after {timeout:.0f} s:\n{cloud.output_text()}")
            time.sleep(0.2)
        document = cloud.cloud_json()
        cloud.edges = dict(document["edges"])
        cloud.ca = str(document["ca"])
        return cloud

    @property
    def running(self) -> bool:
        """True while the `up` process has not exited."""
        return self.process.poll() is None

    def cloud_json(self) -> dict[str, Any]:
        """The published `cloud.json` as it is on disk now."""
        document: dict[str, Any] = json.loads((self.data_dir / "cloud.json").read_text())
        return document

    def directory(self) -> dict[str, Any]:
        """`run/directory.json`: every process's URL."""
        document: dict[str, Any] = json.loads(
            (self.data_dir / "run" / "directory.json").read_text()
        )
        return document

    def pids(self) -> dict[str, int]:
        """The pid of every child process, by process name, from `run/pids.json`."""
        document = json.loads((self.data_dir / "run" / "pids.json").read_text())
        return {str(name): int(pid) for name, pid in document["children"].items()}

    def process_of(self, service: str, region: str = "global") -> str:
        """The name of the process that runs `service` in `region` (`region-eu`, `kms-eu`)."""
        hosted = json.loads((self.data_dir / "run" / "pids.json").read_text())["services"]
        return str(hosted[service if region == "global" else f"{service}-{region}"])

    def pid_of(self, service: str, region: str = "global") -> int:
        """The pid of the process that runs `service` in `region`."""
        return self.pids()[self.process_of(service, region)]

    def restarts(self) -> dict[str, int]:
        """How often `up` restarted each child process, by process name."""
        document = json.loads((self.data_dir / "run" / "pids.json").read_text())
        return {str(name): int(count) for name, count in document["restarts"].items()}

    def wait_restarted(self, process: str, times: int = 1, timeout: float = 120.0) -> None:
        """Wait until `up` has restarted `process` `times` times and it answers again."""
        deadline = time.monotonic() + timeout
        while self.restarts().get(process, 0) < times:
            if not self.running:
                raise AssertionError(f"tenantry up exited:\n{self.output_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{process} was not restarted:\n{self.output_text()}")
            time.sleep(0.1)
        hosted = json.loads((self.data_dir / "run" / "pids.json").read_text())["services"]
        urls = [
            url
            for service, regions in self.directory()["services"].items()
            for region, url in regions.items()
            if hosted.get(service if region == "global" else f"{service}-{region}") == process
        ]
        with httpx.Client(verify=self.ssl_context(), timeout=5.0, trust_env=False) as client:
            for url in urls:
                while True:
                    try:
                        if client.get(f"{url}/_health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{process} did not answer at {url} after restart")
                    time.sleep(0.1)

    def topology(self) -> Topology:
        """The topology this cloud runs: the file `up` recorded, or the built-in one."""
        recorded = self.data_dir / "run" / "topology.toml"
        return load_topology(recorded if recorded.exists() else None)

    def output_text(self) -> str:
        """Everything `up` printed so far."""
        return self.output.read_text(errors="replace")

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting the cloud's CA only."""
        return ssl.create_default_context(cafile=self.ca)

    def http(self, region: str) -> httpx.Client:
        """A client bound to the edge of `region`, verifying it against the cloud's CA.

        It waits up to HTTP_TIMEOUT_SECONDS for an answer: the tests check what a cloud
        answers, not how fast (bench/ measures that), and on a loaded machine a sign-up on
        PostgreSQL (a dozen new connections and a data key per region) took 12 s.
        """
        return httpx.Client(
            base_url=self.edges[region],
            verify=self.ssl_context(),
            timeout=HTTP_TIMEOUT_SECONDS,
            trust_env=False,
        )

    def stop(self, *, check: bool = True) -> int:
        """Press Ctrl-C (SIGINT), wait for `up` to exit, and (by default) assert it exited 0."""
        if self.running:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(
                    f"tenantry up ignored SIGINT for {STOP_TIMEOUT_SECONDS:.0f} s"
                ) from None
        if check:
            assert self.process.returncode == 0, (
                f"tenantry up exited with {self.process.returncode}:\n{self.output_text()}"
            )
        return self.process.returncode
