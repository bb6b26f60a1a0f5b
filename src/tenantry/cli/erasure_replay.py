"""The erasure ledger's replay after every restore, before the restored sites are served again,
so that no restore brings an erased person back.

A tenant restore replays its site's ledger itself, while the site is still `restoring`. A region
restore (`tenantry backup restore`) runs with the cloud stopped (on PostgreSQL with its servers
stopped too, recovering when they next start) and cannot: it leaves a note naming the region
under `backups/erasure-replays/`. The next `tenantry up`, once the databases answer and before
any service starts, marks every served site whose data that restore rewound `restoring` in the
catalog (written directly: tcs is not running yet) with a note per site, and replays each noted
site's ledger as soon as the cloud is ready; only then is the site given its status back. A
replay that fails leaves the site restoring (not served) and its note in place; `tenantry
privacy replay SITE` runs it again and exits non-zero saying why while it still fails.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator, set_tenant_status
from tenantry.cli.privacy_calls import replay_erasures
from tenantry.cli.site_calls import OperatorCallFailed
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import Database
from tenantry.services.backup.layout import BACKUPS, GLOBAL

REPLAY_TIMEOUT = 120.0
RESTORING = "restoring"
HELD_BACK = ("active", "suspended")
"""The statuses a region restore holds back until the replay: the sites it would serve (a
suspended site's data is read by its admins once resumed). A site being moved or restored
already is left to the command running; a deleted site has its ledger replayed by the
restore that brings it back."""


class ReplayFailed(Exception):
    """A replay did not finish; the message says which site and why (`code`: the exit code,
    2 when no cloud answered)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class PendingReplay:
    """A site a region restore rewound, waiting for its ledger's replay."""

    site: str
    cloud_id: str
    previous_status: str
    note: Path


def replay(data_dir: Path, site: str) -> dict[str, Any]:
    """Replay `site`'s erasure ledger through its privacy service; what was replayed."""
    try:
        return run_as_operator(
            data_dir, lambda client: replay_erasures(client, site), REPLAY_TIMEOUT
        )
    except OperatorCallFailed as exc:
        raise ReplayFailed(f"replaying {site}'s erasure ledger failed: {exc}") from None
    except CLOUD_NOT_REACHABLE as exc:
        raise ReplayFailed(
            f"replaying {site}'s erasure ledger failed: no running cloud in {data_dir} ({exc})",
            code=2,
        ) from None


def notes_dir(data_dir: Path) -> Path:
    """Where a region restore notes the sites whose ledgers wait for a replay."""
    return data_dir / BACKUPS / "erasure-replays"


def note_region_restored(data_dir: Path, region: str) -> None:
    """Remember that `region` (or `global`) was restored: `up` holds its sites back."""
    note = notes_dir(data_dir) / "regions" / f"{region}.json"
    note.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    note.write_text(json.dumps({"region": region, "at": time.time()}))


def hold_back_restored(data_dir: Path, topology: Topology) -> list[str]:
    """Before `up` serves anything: hold back the sites of every region a restore rewound
    since (each noted by `note_region_restored`); the sites held back."""
    held: list[str] = []
    directory = notes_dir(data_dir) / "regions"
    for note in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        held += hold_back_region(data_dir, topology, note.stem)
        note.unlink()
    return sorted(set(held))


def hold_back_region(data_dir: Path, topology: Topology, region: str) -> list[str]:
    """With the cloud not serving: mark every served site whose data the restore of `region`
    rewound `restoring` and note it for the replay; the sites marked.

    Restoring a region rewinds its sites; restoring `global` rewinds every site's accounts.
    """
    from sqlalchemy import insert, select, update

    from tenantry.cli.tenant_restore import live_engine
    from tenantry.services.tcs.catalog import changes, tenants

    engine = live_engine(data_dir, topology, Database(GLOBAL_SHARD, "tcs"))
    marked: list[str] = []
    try:
        with engine.begin() as connection:
            query = select(tenants.c.cloud_id, tenants.c.site, tenants.c.status)
            if region != GLOBAL:
                query = query.where(tenants.c.region == region)
            for cloud_id, site, status in connection.execute(query).all():
                note = notes_dir(data_dir) / f"{cloud_id}.json"
                if status not in HELD_BACK and not (status == RESTORING and note.exists()):
                    continue
                if not note.exists():
                    note.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    note.write_text(json.dumps({"site": site, "previous_status": status}))
                connection.execute(
                    update(tenants).where(tenants.c.cloud_id == cloud_id).values(status=RESTORING)
                )
                connection.execute(
                    insert(changes).values(cloud_id=cloud_id, site=site, at=time.time())
                )
                marked.append(str(site))
    finally:
        engine.dispose()
    return marked


def pending(data_dir: Path) -> list[PendingReplay]:
    """Every site a region restore left waiting for its replay."""
    found = []
    directory = notes_dir(data_dir)
    for note in sorted(directory.glob("*.json")) if directory.is_dir() else ():
        try:
            document = json.loads(note.read_text())
            found.append(
                PendingReplay(
                    str(document["site"]), note.stem, str(document["previous_status"]), note
                )
            )
        except (OSError, ValueError, KeyError):
            continue
    return found


def finish(data_dir: Path, waiting: PendingReplay) -> dict[str, Any]:
    """Replay one noted site's ledger, then serve it again as it was before the restore."""
    replayed = replay(data_dir, waiting.site)
    try:
        answered = set_tenant_status(data_dir, waiting.site, waiting.previous_status)
    except CLOUD_NOT_REACHABLE as exc:
        raise ReplayFailed(f"cannot reach tcs to serve {waiting.site} again: {exc}") from None
    if answered.status != 200:
        raise ReplayFailed(
            f"tcs refused to mark {waiting.site} {waiting.previous_status}: {answered.body[:200]!r}"
        )
    waiting.note.unlink(missing_ok=True)
    return replayed


def finish_pending(data_dir: Path, say: Callable[[str], None]) -> int:
    """Replay every noted site's ledger (what `up` does once the cloud is ready); how many
    failed, each said with its reason (those sites stay restoring)."""
    failed = 0
    for waiting in pending(data_dir):
        try:
            replayed = finish(data_dir, waiting)
        except ReplayFailed as exc:
            failed += 1
            say(
                f"[red]{exc}[/]; {waiting.site} stays restoring: "
                f"run `tenantry privacy replay {waiting.site}`"
            )
            continue
        say(
            f"{waiting.site}: erasure ledger replayed after the region restore "
            f"({replayed['replayed']} erasures), served again"
        )
    return failed
