"""`tenantry tenant move SITE --shard S | --region R`: move a live tenant to another shard.

Phases, per service database of the tenant's shard (every registered service with shard
databases and tenant-scoped tables: the tenant's rows, its kms data keys and media records
among them):

1. fence: the move fence (`platform/storage/move_fence.py`) starts capturing the keys of
   the rows the tenant writes on its old shard;
2. copy: a consistent snapshot of the tenant's rows goes to the new shard, replacing anything
   a cut-short move left there, in one transaction per database, counted and checksummed;
3. catch up: the captured rows are copied again from their current state, round after round,
   until a round is small (within `[moves] catch_up_seconds`, 30 by default, else the move
   stops unfrozen and says so);
4. freeze: the tenant's writes on the old shard are refused (the edge holds them up to 2 s);
   the last captured changes are copied, and the tenant's bookkeeping rows (keyed by its cloud
   id: its audit tree's size, pending previews, notes of pending work) whole; the copy is
   checked against the source, table by table, by count and checksum, before the switch (not
   after it: the new home takes writes from the switch on); a mismatch unfreezes the tenant
   where it was and says why;
5. switch: the old copy is fenced for good (`moved`) and tcs names the new shard, which every
   edge follows within a second; a write that reaches the old copy meanwhile is refused, and
   the edge sends it again to the new home. Reads are served throughout.

The old copy stays on the old shard, fenced, for rollback, for `[moves] keep_source_hours`;
then `move_removal.py` removes it (`up` has that done). Its bookkeeping rows are removed there
at the switch, so the old shard's loops stop working for it; its audit outbox rows stay and
drain where they are (delivery finds the new home in tcs).

Media blobs and kms's root keys are per region, so a move within a region leaves them where
they are; a data key row moves with the tenant's rows and stays wrapped by the same root key.
A move to another region (`region_move.py`) also has media copy the blobs there (after the
snapshot, and again while frozen, which checks each one), and the target region's kms wrap the
data keys under its own root key (while frozen, after the row check); tcs then switches the
home region with the shard. A site pinned to its region at sign-up leaves it only with
`--unpin`.

A journal (`move_journal.py`) makes a cut-short move safe to run again: until tcs names the new
shard, every step is redone from the start (the tenant is where it was, frozen at worst until
the move is run again or aborted); once tcs names it, running again only finishes the record.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from tenantry.cli import region_move
from tenantry.cli.backup import BackupCommandError, recorded_topology
from tenantry.cli.move_databases import (
    ServiceDatabase,
    SettleTimeout,
    logical_replication_problems,
    open_database,
    opened,
)
from tenantry.cli.move_journal import (
    ABORTED,
    CAPTURING,
    FAILED,
    FROZEN,
    SWITCHED,
    SWITCHING,
    MoveBusy,
    abort_requested,
    finish,
    holding,
    read_active,
    request_abort,
    write_active,
)
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator
from tenantry.cli.tenant_restore import online_tenant
from tenantry.cli.tenant_rows import (
    Row,
    RowsDiffer,
    bookkeeping_tables,
    check_same,
    copy_keyed_rows,
    owner_column,
    replace_tenant_rows,
    tenant_rows,
    tenant_tables,
)
from tenantry.platform.client import ServiceResponse
from tenantry.platform.storage import move_fence
from tenantry.platform.storage.move_fence import changes, moves
from tenantry.platform.topology import NONE, Topology
from tenantry.services.registry import SPECS
from tenantry.services.tcs.catalog import GONE

SMALL_ROUND = 20
"""Captured changes few enough to copy while the tenant's writes wait."""
BATCH = 2000
LOCK_WAIT_SECONDS = 2.0
ABORT_WAIT_SECONDS = 60.0
MOVABLE = frozenset({"active", "suspended"})

Report = Callable[[str, int, int], None]


class MoveAborted(BackupCommandError):
    """The move was asked to stop, and stopped with the tenant where it was."""


@dataclass(frozen=True, slots=True)
class MoveDone:
    """What a finished move did."""

    move: dict[str, Any]
    notes: tuple[str, ...]


def move_tenant(
    data_dir: Path,
    site: str,
    to_shard: str | None,
    report: Report,
    *,
    to_region: str | None = None,
    unpin: bool = False,
    catch_up_seconds: float | None = None,
) -> MoveDone:
    """Move `site` to `to_shard` (of its region, or of `to_region`: its first shard unless
    named), or finish the move a cut-short run began; a catch-up that takes longer than
    `catch_up_seconds` (`[moves] catch_up_seconds` unless given) stops the move unfrozen."""
    topology = recorded_topology(data_dir)
    limit = topology.moves.catch_up_seconds if catch_up_seconds is None else catch_up_seconds
    if not limit > 0:
        raise BackupCommandError("the catch-up limit must be more than 0 seconds", code=2)
    tenant = _tenant(data_dir, site)
    active = read_active(data_dir, tenant["cloud_id"])
    if to_shard is None and active is not None and to_region in (None, active.get("to_region")):
        to_shard = str(active["to_shard"])  # run again, a cut-short move finishes
    to_shard = _target_shard(topology, tenant, to_shard, to_region)
    _check_target(topology, tenant, to_shard, to_region)
    if topology.shards[to_shard].region != tenant["region"] and not unpin:
        try:
            pinned = region_move.pinned(data_dir, site)
        except region_move.TargetUnreachable as exc:
            raise BackupCommandError(str(exc)) from None
        if pinned:
            raise BackupCommandError(
                f"{site} was pinned to {tenant['region']} at sign-up; give --unpin to move it "
                "out of its region",
                code=2,
            )
    notes = tuple(
        f"{problem}: this move catches up through the change table, not a publication"
        for problem in logical_replication_problems(topology)
    )
    try:
        with holding(data_dir, tenant["cloud_id"], LOCK_WAIT_SECONDS):
            move = _journal_for(data_dir, tenant, to_shard)
            if tenant["shard"] == to_shard:
                if move is None:
                    raise BackupCommandError(f"{site} already lives on {to_shard}", code=2)
                return MoveDone(_finish_switched(data_dir, topology, move), notes)
            for note in notes:
                report(note, 0, 1)
            return MoveDone(
                _run(data_dir, topology, tenant, move, to_shard, report, unpin=unpin, limit=limit),
                notes,
            )
    except MoveBusy as exc:
        raise BackupCommandError(f"{site}: {exc}; try again, or --abort it", code=1) from None


def abort_move(data_dir: Path, site: str) -> dict[str, Any]:
    """Stop the site's move that has not switched, leaving the site where it was."""
    topology = recorded_topology(data_dir)
    tenant = _tenant(data_dir, site)
    if read_active(data_dir, tenant["cloud_id"]) is None:
        raise BackupCommandError(f"{site} has no move in progress", code=2)
    request_abort(data_dir, tenant["cloud_id"])
    try:
        with holding(data_dir, tenant["cloud_id"], ABORT_WAIT_SECONDS):
            move = read_active(data_dir, tenant["cloud_id"])
            if move is None:  # the running move saw the request and stopped
                abort_requested(data_dir, tenant["cloud_id"], clear=True)
                return {"site": site, "result": ABORTED}
            if _tenant(data_dir, site)["shard"] == move["to_shard"]:
                _finish_switched(data_dir, topology, move)
                raise BackupCommandError(
                    f"{site} had already switched to {move['to_shard']}; the move was not aborted",
                    code=1,
                )
            _undo(data_dir, topology, move, ABORTED, "aborted by the operator")
            return {**move, "result": ABORTED}
    except MoveBusy as exc:
        raise BackupCommandError(f"{site}: {exc}", code=1) from None


def _tenant(data_dir: Path, site: str) -> dict[str, Any]:
    return online_tenant(data_dir, site, "a tenant move")


def _target_shard(
    topology: Topology, tenant: dict[str, Any], to_shard: str | None, to_region: str | None
) -> str:
    if to_region is not None and to_region not in topology.regions:
        names = ", ".join(sorted(topology.regions))
        raise BackupCommandError(f"there is no region {to_region!r} (regions: {names})", code=2)
    if to_shard is not None:
        return to_shard
    if to_region is None:
        raise BackupCommandError("name the shard (--shard) or region (--region) to move to", code=2)
    if to_region == tenant["region"]:
        raise BackupCommandError(
            f"{tenant['site']} already lives in {to_region}; name a shard with --shard", code=2
        )
    return topology.regions[to_region].shards[0].name


def _check_target(
    topology: Topology, tenant: dict[str, Any], to_shard: str, to_region: str | None
) -> None:
    target = topology.shards.get(to_shard)
    region = to_region or tenant["region"]
    if target is None:
        names = ", ".join(s.name for s in topology.regions[region].shards)
        raise BackupCommandError(
            f"there is no shard {to_shard!r} (the shards of {region}: {names})", code=2
        )
    if target.region != region:
        raise BackupCommandError(
            f"shard {to_shard} is in region {target.region}, not {region}: a move to another "
            f"region names it with --region {target.region}",
            code=2,
        )
    if tenant["status"] in GONE or tenant["status"] not in MOVABLE:
        raise BackupCommandError(
            f"{tenant['site']} is {tenant['status']}; only an active or suspended site moves",
            code=2,
        )
    if region != tenant["region"] and topology.transfers.basis(tenant["region"], region) == NONE:
        raise BackupCommandError(
            f"transfer_not_permitted: {tenant['site']}'s data may not leave {tenant['region']} "
            f"for {region} ([transfers] names no legal basis for that pair)",
            code=2,
        )


def _journal_for(data_dir: Path, tenant: dict[str, Any], to_shard: str) -> dict[str, Any] | None:
    move = read_active(data_dir, tenant["cloud_id"])
    if move is not None and move["to_shard"] != to_shard:
        raise BackupCommandError(
            f"{tenant['site']} is being moved to {move['to_shard']}: run that move again "
            "to finish it, or stop it with --abort",
            code=2,
        )
    return move


def _databases(
    data_dir: Path, topology: Topology, move: dict[str, Any]
) -> list[tuple[ServiceDatabase, ServiceDatabase]]:
    """(old, new) for each service database the tenant has rows in on its shard."""
    pairs = []
    for spec in SPECS:
        if spec.schema is None or not spec.shard_databases:
            continue
        tables = tenant_tables(spec.schema)
        kept = bookkeeping_tables(spec.schema)
        if tables or kept:
            pairs.append(
                (
                    open_database(data_dir, topology, spec.name, move["from_shard"], tables, kept),
                    open_database(data_dir, topology, spec.name, move["to_shard"], tables, kept),
                )
            )
    return pairs


def _run(
    data_dir: Path,
    topology: Topology,
    tenant: dict[str, Any],
    move: dict[str, Any] | None,
    to_shard: str,
    report: Report,
    *,
    unpin: bool = False,
    limit: float,
) -> dict[str, Any]:
    if move is None:
        move = {
            "move_id": str(uuid.uuid4()),
            "site": tenant["site"],
            "cloud_id": tenant["cloud_id"],
            "region": tenant["region"],
            "from_shard": tenant["shard"],
            "to_shard": to_shard,
            "to_region": topology.shards[to_shard].region,
            "started_at": time.time(),
            "attempts": 0,
        }
    move = {**move, "phase": CAPTURING, "attempts": int(move["attempts"]) + 1, "unpin": unpin}
    move.setdefault("to_region", move["region"])
    across = move["to_region"] != move["region"]
    try:
        region_move.register(data_dir, move)
    except region_move.TargetUnreachable as exc:
        raise BackupCommandError(f"{move['site']}: {exc}; nothing was copied") from None
    write_active(data_dir, move)
    pairs = _databases(data_dir, topology, move)
    cloud_id = move["cloud_id"]
    steps = 4
    with opened([d for pair in pairs for d in pair]):
        for source, target in pairs:
            source.install_fence()
            target.install_fence()
            _set_state(target, cloud_id, move["move_id"], None)
            _set_state(source, cloud_id, move["move_id"], move_fence.CAPTURING)
        _settle(data_dir, topology, move, pairs)
        copied: dict[str, int] = {}
        for number, (source, target) in enumerate(pairs):
            report(f"copy {source.name} to {target.shard}", number, len(pairs))
            copied[source.service] = _copy_snapshot(source, target, cloud_id)
        move["rows"] = copied
        if across:
            report(f"copy blobs to {move['to_region']}", 1, steps)
            _across(data_dir, topology, move, lambda: region_move.send_blobs(data_dir, move))
        deadline = time.monotonic() + limit
        rounds = 0
        while True:
            _stop_if_asked(data_dir, topology, move)
            rounds += 1
            report(f"catch up (round {rounds})", 1, steps)
            changed = sum(_catch_up(source, target, cloud_id) for source, target in pairs)
            if changed <= SMALL_ROUND:
                break
            if time.monotonic() > deadline:
                why = f"the catch-up did not converge in {limit:g} s ({changed} changes a round)"
                _undo(data_dir, topology, move, FAILED, why)
                raise BackupCommandError(
                    f"{move['site']}: {why}; the move stopped, unfrozen, and the site is served "
                    "where it was (try again when it writes less, or raise [moves] "
                    "catch_up_seconds)"
                )
        _stop_if_asked(data_dir, topology, move)
        report("freeze and catch up the last changes", 2, steps)
        frozen_at = time.monotonic()
        for source, _target in pairs:
            _set_state(source, cloud_id, move["move_id"], move_fence.FROZEN)
        # Recorded once every database is frozen (a run cut short before starts over anyway).
        move["phase"] = FROZEN
        write_active(data_dir, move)
        _settle(data_dir, topology, move, pairs)
        for source, target in pairs:
            while _catch_up(source, target, cloud_id):
                pass
            _copy_bookkeeping(source, target, cloud_id)
        try:
            for source, target in pairs:
                _verify(source, target, cloud_id)
        except RowsDiffer as exc:
            _undo(data_dir, topology, move, FAILED, f"verification failed: {exc}")
            raise BackupCommandError(
                f"{move['site']}: the copy does not match ({exc}); the move stopped and the "
                "site is served where it was"
            ) from None
        if across:
            # Blobs written since the first copy, and proof that every blob is there.
            report(f"blobs and keys to {move['to_region']}", 2, steps)
            sent = _across(data_dir, topology, move, lambda: region_move.send_blobs(data_dir, move))
            keys = _across(data_dir, topology, move, lambda: region_move.adopt_keys(data_dir, move))
            move["blobs"], move["blob_bytes"] = int(sent["blobs"]), int(sent["bytes"])
            move["data_keys"] = len(keys["rewrapped"]) + len(keys["customer_key_versions"])
        _stop_if_asked(data_dir, topology, move)
        report("switch", 3, steps)
        move["phase"] = SWITCHING
        write_active(data_dir, move)
        for source, _target in pairs:
            _set_state(source, cloud_id, move["move_id"], move_fence.MOVED)
        _switch(data_dir, topology, move)
        move["freeze_seconds"] = round(time.monotonic() - frozen_at, 3)
    move["catch_up_rounds"] = rounds
    if across:
        basis = topology.transfers.basis(move["region"], move["to_region"])
        try:
            region_move.record_transfer(data_dir, move, basis, time.time())
            move["transfer_recorded"] = True
        except region_move.TargetUnreachable as exc:
            # The site has switched: the move stands, and says its record is missing.
            move["transfer_recorded"] = False
            move["transfer_record_error"] = str(exc)
    report("done", steps, steps)
    return _finish_switched(data_dir, topology, move)


def _settle(
    data_dir: Path,
    topology: Topology,
    move: dict[str, Any],
    pairs: list[tuple[ServiceDatabase, ServiceDatabase]],
) -> None:
    # On PostgreSQL every service of a shard is a schema of the shard's one database.
    try:
        pairs[0][0].settle()
    except SettleTimeout as exc:
        _undo(data_dir, topology, move, FAILED, str(exc))
        raise BackupCommandError(f"{move['site']}: {exc}; the move stopped unfrozen") from None


def _across(
    data_dir: Path, topology: Topology, move: dict[str, Any], step: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run one step of a move between regions; on a failure the move is undone, unswitched."""
    try:
        return step()
    except region_move.TargetUnreachable as exc:
        _undo(data_dir, topology, move, FAILED, str(exc))
        raise BackupCommandError(
            f"{move['site']}: {exc}; the move stopped before the switch, and the site is "
            "served where it was"
        ) from None


def _set_state(database: ServiceDatabase, cloud_id: str, move_id: str, state: str | None) -> None:
    """Put the tenant's fence row in `state` (None: no row, the tenant is not moving here)."""
    with database.writer.begin() as connection:
        connection.execute(delete(moves).where(moves.c.tenant_id == cloud_id))
        if state == move_fence.CAPTURING or state is None:
            connection.execute(delete(changes).where(changes.c.tenant_id == cloud_id))
        if state is not None:
            connection.execute(
                insert(moves).values(tenant_id=cloud_id, move_id=move_id, state=state)
            )


def _copy_snapshot(source: ServiceDatabase, target: ServiceDatabase, cloud_id: str) -> int:
    """The tenant's rows of one database, as of one moment, in place of any on the target."""
    with source.snapshot.begin() as reading:
        wanted = {t.name: tenant_rows(reading, t, cloud_id) for t in source.tables}
    with target.writer.begin() as writing:
        total = replace_tenant_rows(writing, target.tables, cloud_id, wanted)
        check_same(writing, target.tables, cloud_id, wanted, target.name)
    return total


def _catch_up(source: ServiceDatabase, target: ServiceDatabase, cloud_id: str) -> int:
    """Copy one batch of captured changes as the source has them now; how many there were.

    A change is forgotten only once its row is written on the target, so a run cut short
    copies it again, which changes nothing. Changes are taken by what is committed, not by
    sequence number: a transaction may commit a lower number after a higher one.
    """
    with source.snapshot.begin() as reading:
        captured = reading.execute(
            select(changes.c.seq, changes.c.table_name, changes.c.row_key)
            .where(changes.c.tenant_id == cloud_id)
            .order_by(changes.c.seq)
            .limit(BATCH)
        ).all()
        if not captured:
            return 0
        keys: dict[str, set[Row]] = {}
        for _seq, table, row_key in captured:
            keys.setdefault(str(table), set()).add(tuple(json.loads(row_key)))
        with target.writer.begin() as writing:
            copy_keyed_rows(reading, writing, target.tables, keys)
    with source.writer.begin() as forgetting:
        _forget(forgetting, cloud_id, [int(seq) for seq, _t, _k in captured])
    return len(captured)


def _forget(connection: Connection, cloud_id: str, seqs: list[int]) -> None:
    for start in range(0, len(seqs), 500):
        connection.execute(
            delete(changes).where(
                changes.c.tenant_id == cloud_id, changes.c.seq.in_(seqs[start : start + 500])
            )
        )


def _bookkeeping_rows(
    source: ServiceDatabase, cloud_id: str, to_shard: str
) -> dict[str, list[Row]]:
    """The tenant's bookkeeping rows on the source, as they are to be on `to_shard` (a row
    that names the tenant's shard names the new one)."""
    with source.snapshot.begin() as reading:
        found = {}
        for table in source.bookkeeping:
            rows = tenant_rows(reading, table, cloud_id)
            if "shard" in table.c:
                at = [c.name for c in table.columns].index("shard")
                rows = [(*row[:at], to_shard, *row[at + 1 :]) for row in rows]
            found[table.name] = rows
    return found


def _copy_bookkeeping(source: ServiceDatabase, target: ServiceDatabase, cloud_id: str) -> None:
    """Copy the tenant's bookkeeping rows whole, in place of any on the target."""
    if not source.bookkeeping:
        return
    wanted = _bookkeeping_rows(source, cloud_id, target.shard)
    with target.writer.begin() as writing:
        replace_tenant_rows(writing, target.bookkeeping, cloud_id, wanted)


def _verify(source: ServiceDatabase, target: ServiceDatabase, cloud_id: str) -> None:
    with source.snapshot.begin() as reading:
        expected = {t.name: tenant_rows(reading, t, cloud_id) for t in source.tables}
    expected.update(_bookkeeping_rows(source, cloud_id, target.shard))
    with target.snapshot.begin() as checking:
        tables = [*target.tables, *target.bookkeeping]
        check_same(checking, tables, cloud_id, expected, target.name)


def _stop_if_asked(data_dir: Path, topology: Topology, move: dict[str, Any]) -> None:
    if abort_requested(data_dir, move["cloud_id"]):
        _undo(data_dir, topology, move, ABORTED, "aborted by the operator")
        raise MoveAborted(f"{move['site']}: the move was aborted; it is served where it was")


def _undo(data_dir: Path, topology: Topology, move: dict[str, Any], result: str, why: str) -> None:
    """Stop a move that has not switched: the tenant as it was on its old shard, unfrozen,
    and nothing of it left on the new one."""
    with opened([d for pair in _databases(data_dir, topology, move) for d in pair]) as dbs:
        for database in dbs:
            database.install_fence()
        for database in dbs:
            if database.shard == move["to_shard"]:
                tables = [*database.tables, *database.bookkeeping]
                with database.writer.begin() as connection:
                    empty: dict[str, list[Row]] = {t.name: [] for t in tables}
                    replace_tenant_rows(connection, tables, move["cloud_id"], empty)
        for database in dbs:
            _set_state(database, move["cloud_id"], move["move_id"], None)
    with contextlib.suppress(region_move.TargetUnreachable):
        # Left registered, it lets kms and media hand data only to a target that got nothing
        # switched to it; the next move of the site registers its own.
        region_move.forget(data_dir, move)
    finish(data_dir, {**move, "phase": result, "result": result, "reason": why})


def _switch(data_dir: Path, topology: Topology, move: dict[str, Any]) -> None:
    """Name the new shard in tcs; on a refusal, the move is undone (nothing switched)."""
    try:
        answer: ServiceResponse = run_as_operator(
            data_dir,
            lambda client: client.call(
                "tcs",
                "POST",
                "/internal/tcs/tenants/{site}/home",
                params={"site": move["site"]},
                json=_home_change(move),
            ),
        )
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(
            f"{move['site']}: tcs could not be reached to switch ({exc}); the site is frozen "
            "until this move is run again (it then finishes or starts over) or aborted"
        ) from None
    if answer.status != 200:
        reason = answer.body[:200].decode(errors="replace")
        _undo(data_dir, topology, move, FAILED, f"tcs refused the switch: {reason}")
        raise BackupCommandError(
            f"{move['site']}: tcs refused the switch ({reason}); it is served where it was"
        )


def _home_change(move: dict[str, Any]) -> dict[str, Any]:
    """What tcs is told at the switch: the new home, and what moved there (for its audit)."""
    rows = sum(int(count) for count in move.get("rows", {}).values())
    moved = {"rows": rows}
    for name in ("blobs", "blob_bytes", "data_keys"):
        if name in move:
            moved[name] = int(move[name])
    change: dict[str, Any] = {
        "from_shard": move["from_shard"],
        "to_shard": move["to_shard"],
        "moved": moved,
    }
    if move.get("to_region", move["region"]) != move["region"]:
        change |= {"to_region": move["to_region"], "unpin": bool(move.get("unpin"))}
    return change


def _finish_switched(data_dir: Path, topology: Topology, move: dict[str, Any]) -> dict[str, Any]:
    """Record a move whose switch tcs took: the old copy fenced for good and kept, its
    bookkeeping rows (copied before the switch) gone from the old shard."""
    cloud_id = move["cloud_id"]
    with opened([d for pair in _databases(data_dir, topology, move) for d in pair]) as dbs:
        for database in dbs:
            if database.shard == move["from_shard"]:
                database.install_fence()
                _set_state(database, move["cloud_id"], move["move_id"], move_fence.MOVED)
                # The old shard's loops (audit signing, previews, purges) stop working for it.
                with database.writer.begin() as connection:
                    for table in reversed(database.bookkeeping):
                        connection.execute(delete(table).where(owner_column(table) == cloud_id))
    done = {
        **move,
        "phase": SWITCHED,
        "result": SWITCHED,
        "source_kept": (
            f"{move['from_shard']} (fenced; removed {topology.moves.keep_source_hours:g} h "
            "after the switch)"
        ),
    }
    finish(data_dir, done)
    return done
