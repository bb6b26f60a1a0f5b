"""Where a local cloud keeps its files, so `up`, `status` and tests agree on one layout.

DIR/run holds what describes the running cloud (lock, process directory, pids), DIR/logs one log
per process, DIR/tls the CA and server certificates. `cloud.json` sits at the top because it is the
one file a client of the cloud needs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantry.platform.files import write_atomically

PRIVATE_DIR_MODE = 0o700
DATA_DIR_ENV = "TENANTRY_DATA_DIR"
DEFAULT_DATA_DIR = Path("tenantry-data")


class NoDataDirectory(Exception):
    """There is no cloud's data directory where a command looked; the message says where."""


def find_data_dir(
    given: Path | None, *, must_exist: bool = True, env: Mapping[str, str] = os.environ
) -> Path:
    """The data directory every command uses: `--data-dir`, else `TENANTRY_DATA_DIR`, else
    `./tenantry-data`, made absolute.

    With `must_exist` (every command but the ones that make one), a directory that is not a
    cloud's data directory (no `run/` or `keys/` that `up` made in it) is `NoDataDirectory`,
    whose message says where it looked and why there.
    """
    if given is not None:
        path, source = given, "--data-dir"
    elif env.get(DATA_DIR_ENV):
        path, source = Path(env[DATA_DIR_ENV]), DATA_DIR_ENV
    else:
        path, source = DEFAULT_DATA_DIR, "the default, in the current directory"
    root = path.expanduser().resolve()
    if must_exist and not ((root / "run").is_dir() or (root / "keys").is_dir()):
        what = "does not exist" if not root.exists() else "is not a tenantry data directory"
        raise NoDataDirectory(
            f"{root} ({source}) {what}; run `tenantry up` there first, or name the cloud's "
            f"directory with --data-dir DIR or {DATA_DIR_ENV}"
        )
    return root


@dataclass(frozen=True, slots=True)
class DataDir:
    """The paths of one cloud's data directory, all absolute."""

    root: Path

    @classmethod
    def at(cls, path: Path) -> DataDir:
        """Resolve `path` once, so every path handed to child processes is absolute."""
        return cls(path.expanduser().resolve())

    @property
    def run(self) -> Path:
        """Files that describe the running cloud rather than its data."""
        return self.root / "run"

    @property
    def logs(self) -> Path:
        """One append-only log file per process."""
        return self.root / "logs"

    @property
    def tls(self) -> Path:
        """The local CA and one server certificate per process."""
        return self.root / "tls"

    @property
    def lock_file(self) -> Path:
        """Held exclusively by the one `up` that runs this directory."""
        return self.run / "up.lock"

    @property
    def directory_file(self) -> Path:
        """Every process's URL, which services read to find each other."""
        return self.run / "directory.json"

    @property
    def pids_file(self) -> Path:
        """The pid of `up` and of each child, to find processes a crashed `up` left behind."""
        return self.run / "pids.json"

    @property
    def ports_file(self) -> Path:
        """The edges' ports, kept from one `up` to the next so their URLs stay the same."""
        return self.run / "ports.json"

    @property
    def topology_file(self) -> Path:
        """A copy of the topology the cloud was started with, for `status` to read later."""
        return self.run / "topology.toml"

    @property
    def cloud_file(self) -> Path:
        """Edge URLs and the CA: present only while the cloud is up and healthy."""
        return self.root / "cloud.json"

    def log_file(self, process: str) -> Path:
        """The log of one process, e.g. `edge-eu`."""
        return self.logs / f"{process}.log"

    def create(self) -> None:
        """Make the directory and its run/logs parts private to the current user."""
        for path in (self.root, self.run, self.logs):
            path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            # mkdir's mode does not apply to a directory that already existed.
            path.chmod(PRIVATE_DIR_MODE)


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Replace `path` in one step, so a reader sees the old document or the new one, never half."""
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode(), 0o644)


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object written by `write_json_atomic`; raise ValueError if it is not one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return document
