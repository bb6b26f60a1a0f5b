"""Remove a moved tenant's old copy once `[moves] keep_source_hours` have passed since its switch.

A move keeps the copy it left behind (fenced: never written again) so the operator can still
look at it or roll back; after the configured hours it is removed: the tenant's rows of every
service on its old shard (its kms data keys among them) and, when the move crossed regions, its
blobs in the old region's media store (media removes them, being the only service with the
store's credentials, and only once tcs names another region as the tenant's home and no move of
it goes back there). The fence row stays, so a stale write still finds the copy moved away. The
removal is then recorded in the tenant's audit log (`tenant_move_source_removed`), and in the
move's record, so it is done once.

A copy that a later move replaced (the tenant came back to that shard, or moved away from it
again) is not removed for this move: it is the later move's (or the live one). A tenant with a
move in progress is left for the next run. `tenantry tenant moves --remove-expired` runs this;
`up` runs that command by itself whenever a copy falls due (`ExpiredCopies`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select

from tenantry.cli.backup import BackupCommandError, recorded_topology
from tenantry.cli.datadir import DataDir
from tenantry.cli.move_databases import ServiceDatabase, open_database, opened
from tenantry.cli.move_journal import (
    SWITCHED,
    MoveBusy,
    all_moves,
    holding,
    read_active,
    rewrite_done,
)
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, OPERATOR, run_as_operator
from tenantry.cli.scheduled_command import ScheduledCommand
from tenantry.cli.site_calls import OperatorCallFailed, answer, site_context
from tenantry.cli.tenant_rows import (
    Row,
    bookkeeping_tables,
    owner_column,
    replace_tenant_rows,
    tenant_tables,
)
from tenantry.platform.audit.events import Actor, AuditEvent
from tenantry.platform.client import ServiceClient
from tenantry.platform.storage import move_fence
from tenantry.platform.storage.move_fence import moves
from tenantry.platform.topology import Topology
from tenantry.services.registry import SPECS

LOCK_WAIT_SECONDS = 2.0
CALL_SECONDS = 60.0
REMOVED_ACTION = "tenant_move_source_removed"


def due(move: dict[str, Any], topology: Topology, now: float) -> bool:
    """Whether the old copy of an ended move is to be removed by `now`."""
    return (
        move.get("result") == SWITCHED
        and "source_removed" not in move
        and float(move.get("finished_at", now)) + topology.moves.keep_source_seconds <= now
    )


def remove_expired(data_dir: Path, now: float | None = None) -> list[dict[str, Any]]:
    """Remove every old copy whose time has come; the records of the moves it did this for."""
    topology = recorded_topology(data_dir)
    at = time.time() if now is None else now
    ended = [m for m in all_moves(data_dir) if "finished_at" in m]
    done: list[dict[str, Any]] = []
    for move in ended:
        if not due(move, topology, at):
            continue
        try:
            with holding(data_dir, move["cloud_id"], LOCK_WAIT_SECONDS):
                if read_active(data_dir, move["cloud_id"]) is not None:
                    continue  # a move of the tenant is under way; the next run sees to it
                removed = _remove(data_dir, topology, move, ended, at)
        except MoveBusy:
            continue
        rewrite_done(data_dir, removed)
        done.append(removed)
    return done


def _remove(
    data_dir: Path,
    topology: Topology,
    move: dict[str, Any],
    ended: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    source = move["from_shard"]
    later = [
        m
        for m in ended
        if m["cloud_id"] == move["cloud_id"]
        and m.get("result") == SWITCHED
        and float(m["finished_at"]) > float(move["finished_at"])
        and source in (m["from_shard"], m["to_shard"])
    ]
    if later:
        return {**move, "source_removed": {"at": now, "superseded_by": later[0]["move_id"]}}
    home = _home(data_dir, move["site"])
    if home is not None and home["shard"] == source:
        return {**move, "source_removed": {"at": now, "superseded_by": "the live copy"}}
    across = move.get("to_region", move["region"]) != move["region"]
    if across and (home is None or home["region"] != move["region"]):
        _call(data_dir, f"blob removal by media in {move['region']}", move, _remove_blobs)
    rows = _remove_rows(data_dir, topology, move)
    removed = {"at": now, "rows": rows, "blobs": across}
    if home is not None:
        _call(data_dir, "the removal's audit event", move, _record)
    return {**move, "source_removed": removed}


def _databases(data_dir: Path, topology: Topology, shard: str) -> list[ServiceDatabase]:
    found = []
    for spec in SPECS:
        if spec.schema is None or not spec.shard_databases:
            continue
        tables, kept = tenant_tables(spec.schema), bookkeeping_tables(spec.schema)
        if tables or kept:
            found.append(open_database(data_dir, topology, spec.name, shard, tables, kept))
    return found


def _remove_rows(data_dir: Path, topology: Topology, move: dict[str, Any]) -> int:
    """Delete the tenant's rows on its old shard, one transaction per database (the fence row
    is lifted for the deletes and put back in the same transaction); how many there were."""
    cloud_id = move["cloud_id"]
    total = 0
    with opened(_databases(data_dir, topology, move["from_shard"])) as databases:
        for database in databases:
            database.install_fence()
            tables = [*database.tables, *database.bookkeeping]
            with database.writer.begin() as connection:
                connection.execute(delete(moves).where(moves.c.tenant_id == cloud_id))
                for table in tables:
                    total += int(
                        connection.execute(
                            select(func.count()).where(owner_column(table) == cloud_id)
                        ).scalar_one()
                    )
                empty: dict[str, list[Row]] = {t.name: [] for t in tables}
                replace_tenant_rows(connection, tables, cloud_id, empty)
                connection.execute(
                    insert(moves).values(
                        tenant_id=cloud_id, move_id=move["move_id"], state=move_fence.MOVED
                    )
                )
    return total


def _home(data_dir: Path, site: str) -> dict[str, Any] | None:
    """The site's catalog row now (None: tcs knows it no more)."""

    async def look(client: ServiceClient) -> dict[str, Any] | None:
        found = await client.call(
            "tcs", "GET", "/internal/tcs/tenants/{site}", params={"site": site}
        )
        return None if found.status == 404 else answer(found, "site lookup")

    try:
        return run_as_operator(data_dir, look, CALL_SECONDS)
    except OperatorCallFailed as exc:
        raise BackupCommandError(f"{site}: {exc}; its old copy is kept for now") from None
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(
            f"{site}: tcs could not be reached ({exc}); its old copy is kept for now"
        ) from None


async def _remove_blobs(client: ServiceClient, move: dict[str, Any]) -> None:
    answer(
        await client.call(
            "media",
            "POST",
            "/internal/media/moves/{cloud_id}/remove",
            params={"cloud_id": move["cloud_id"]},
            region=move["region"],
        ),
        "blob removal",
    )


async def _record(client: ServiceClient, move: dict[str, Any]) -> None:
    tenant = await site_context(client, move["site"])
    detail = {
        "move_id": move["move_id"],
        "from_region": move["region"],
        "from_shard": move["from_shard"],
        "to_region": move.get("to_region", move["region"]),
        "to_shard": move["to_shard"],
    }
    event = AuditEvent(
        REMOVED_ACTION, f"moves/{move['move_id']}", Actor("operator", OPERATOR), detail=detail
    )
    recorded = await client.call(
        "audit",
        "POST",
        "/internal/audit/events",
        json={"events": [event.wire()]},
        **tenant.call_args(),
    )
    if recorded.status != 201:
        answer(recorded, "recording the removal")


def _call(
    data_dir: Path,
    what: str,
    move: dict[str, Any],
    step: Callable[[ServiceClient, dict[str, Any]], Awaitable[None]],
) -> None:
    try:
        run_as_operator(data_dir, lambda client: step(client, move), CALL_SECONDS)
    except OperatorCallFailed as exc:
        raise BackupCommandError(f"{move['site']}: {what} failed: {exc}") from None
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(f"{move['site']}: {what} did not get through: {exc}") from None


CHECK_SECONDS = 60.0
"""How often `up` looks for old copies that fell due."""


class ExpiredCopies(ScheduledCommand):
    """Runs `tenantry tenant moves --remove-expired` from `up` when an old copy falls due; at
    most one at a time (call `poll` from the supervisor's loop)."""

    def __init__(self, dirs: DataDir, topology: Topology) -> None:
        super().__init__(dirs, "move-removals.log")
        self._topology = topology
        self._checked = -CHECK_SECONDS

    def poll(self) -> None:
        """Start a removal if an old copy is due and none runs; looks every CHECK_SECONDS."""
        if self.running() or time.monotonic() - self._checked < CHECK_SECONDS:
            return
        self._checked = time.monotonic()
        now = time.time()
        try:
            pending = any(due(m, self._topology, now) for m in all_moves(self._dirs.root))
        except (OSError, ValueError, KeyError):
            return  # a record being written; the next look reads it whole
        if not pending:
            return
        self.start("tenant", "moves", "--remove-expired")
