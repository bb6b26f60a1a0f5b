"""When `up` has a moved tenant's old copy removed: once `[moves] keep_source_hours` have passed
since the switch, for switched moves only, and once."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tenantry.cli import move_removal
from tenantry.cli.datadir import DataDir
from tenantry.cli.move_removal import ExpiredCopies, due
from tenantry.platform.topology import load_topology


def _ended(root: Path, move_id: str, **record: Any) -> None:
    folder = root / "moves" / "done"
    folder.mkdir(parents=True, exist_ok=True)
    move = {"move_id": move_id, "cloud_id": "c", "site": "s", "started_at": 0.0, **record}
    (folder / f"{move_id}.json").write_text(json.dumps(move))


def test_an_old_copy_falls_due_after_the_keeping_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topology = load_topology()  # keep_source_hours 24
    now = time.time()
    switched = {"result": "switched", "finished_at": now - 3600}
    assert not due(switched, topology, now)
    assert due(switched, topology, now + 24 * 3600)
    assert not due({**switched, "result": "failed"}, topology, now + 24 * 3600)
    assert not due({**switched, "source_removed": {"at": now}}, topology, now + 24 * 3600)

    started: list[list[str]] = []

    class Recorded:
        def __init__(self, argv: list[str], **_: Any) -> None:
            started.append(argv)

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    dirs = DataDir.at(tmp_path)
    dirs.logs.mkdir(parents=True, exist_ok=True)
    _ended(tmp_path, "recent", **switched)
    copies = ExpiredCopies(dirs, topology)
    copies.poll()
    assert started == []  # nothing due yet
    _ended(tmp_path, "old", result="switched", finished_at=now - 25 * 3600)
    copies.poll()
    assert started == []  # looked a moment ago: it looks again a minute later
    monkeypatch.setattr(move_removal, "CHECK_SECONDS", 0.0)
    copies.poll()
    assert started and started[0][-4:-2] == ["moves", "--remove-expired"]
