"""Where a tenant move remembers how far it got, so a move cut short is run again or aborted.

`moves/active/<cloud id>.json` is the move in progress of a tenant (at most one), rewritten at
each phase; `moves/done/<move id>.json` keeps every move that ended (switched, aborted or
failed), with what it did, for `tenantry tenant moves`. `moves/active/<cloud id>.lock` is held
(flock) by whichever process works on the tenant's move, so a second `move` or an `--abort`
waits its turn; a killed process lets go of it. `--abort` asks a running move to stop by
leaving `moves/active/<cloud id>.abort`, which the move reads between steps.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MOVES = "moves"
CAPTURING = "copying"
FROZEN = "frozen"
SWITCHING = "switching"
SWITCHED = "switched"
ABORTED = "aborted"
FAILED = "failed"
ENDED = frozenset({SWITCHED, ABORTED, FAILED})


class MoveBusy(RuntimeError):
    """Another process works on this tenant's move and did not let go in time."""


def _active(data_dir: Path) -> Path:
    return data_dir / MOVES / "active"


def _done(data_dir: Path) -> Path:
    return data_dir / MOVES / "done"


def read_active(data_dir: Path, cloud_id: str) -> dict[str, Any] | None:
    """The tenant's move in progress, or None."""
    path = _active(data_dir) / f"{cloud_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_active(data_dir: Path, move: dict[str, Any]) -> None:
    """Record the move's progress (atomically: a killed write leaves the last one whole)."""
    folder = _active(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{move['cloud_id']}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(move, indent=2, sort_keys=True))
    os.replace(partial, path)


def finish(data_dir: Path, move: dict[str, Any]) -> None:
    """File an ended move under `done/` and clear it (and any abort request) from `active/`."""
    folder = _done(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    move = {**move, "finished_at": time.time()}
    partial = folder / f"{move['move_id']}.json.partial"
    partial.write_text(json.dumps(move, indent=2, sort_keys=True))
    os.replace(partial, folder / f"{move['move_id']}.json")
    (_active(data_dir) / f"{move['cloud_id']}.json").unlink(missing_ok=True)
    abort_requested(data_dir, move["cloud_id"], clear=True)


def rewrite_done(data_dir: Path, move: dict[str, Any]) -> None:
    """Replace the record of an ended move (what was done since, such as its old copy's
    removal, is added to it)."""
    folder = _done(data_dir)
    partial = folder / f"{move['move_id']}.json.partial"
    partial.write_text(json.dumps(move, indent=2, sort_keys=True))
    os.replace(partial, folder / f"{move['move_id']}.json")


def request_abort(data_dir: Path, cloud_id: str) -> None:
    """Ask the running move of the tenant to stop before it switches."""
    folder = _active(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / f"{cloud_id}.abort").touch()


def abort_requested(data_dir: Path, cloud_id: str, *, clear: bool = False) -> bool:
    """Whether an abort was asked for the tenant's move (and forget it, with `clear`)."""
    path = _active(data_dir) / f"{cloud_id}.abort"
    found = path.exists()
    if clear:
        path.unlink(missing_ok=True)
    return found


@contextlib.contextmanager
def holding(data_dir: Path, cloud_id: str, wait_seconds: float) -> Iterator[None]:
    """Hold the tenant's move lock for the block; MoveBusy if it is not free in time."""
    folder = _active(data_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with (folder / f"{cloud_id}.lock").open("a") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MoveBusy("another process is working on this site's move") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def all_moves(data_dir: Path) -> list[dict[str, Any]]:
    """Every move in progress, then every move that ended, oldest first in each."""
    found: list[dict[str, Any]] = []
    for folder in (_active(data_dir), _done(data_dir)):
        moves = (
            [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
        )
        found += sorted(moves, key=lambda move: float(move["started_at"]))
    return found
