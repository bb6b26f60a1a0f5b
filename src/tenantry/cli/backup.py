"""`tenantry backup ...`: how well every database is protected, full backups, restore drills,
and disaster recovery of a whole region from its backups.

Every command reads the topology `up` recorded and picks the backup tool from the storage
backend (`services/backup/engines/choose.py`), so the same commands drive Litestream on SQLite
and pgBackRest on PostgreSQL. The engines load when a command needs one: every other command of
the CLI imports this module, and they load the storage stack and kms's client with them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir
from tenantry.cli.datadir import DataDir, read_json
from tenantry.platform.topology import Topology, TopologyError, load_topology

if TYPE_CHECKING:
    from tenantry.services.backup.engines.engine import BackupEngine, DatabaseState
    from tenantry.services.backup.layout import RegionLayout

backup_app = typer.Typer(no_args_is_help=True, help="Backups, restore drills, disaster recovery.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

RegionOption = Annotated[
    str | None, typer.Option("--region", help="One region, or `global` (default: every one).")
]


class BackupCommandError(Exception):
    """A reason a backup command cannot go on; shown as is, with exit 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def recorded_topology(data_dir: Path) -> Topology:
    """The topology `up` recorded in the data directory (the built-in one if none)."""
    recorded = DataDir.at(data_dir).topology_file
    try:
        return load_topology(recorded if recorded.exists() else None)
    except TopologyError as exc:
        raise BackupCommandError(f"cannot read the cloud's topology: {exc}") from None


def chosen_regions(topology: Topology, region: str | None) -> tuple[str, ...]:
    """The regions a command covers: the one named (checked), else every one."""
    from tenantry.services.backup.layout import regions_of

    if region is None:
        return regions_of(topology)
    if region not in regions_of(topology):
        known = ", ".join(regions_of(topology))
        raise BackupCommandError(f"there is no region {region!r}; one of: {known}", code=2)
    return (region,)


def engine_for(data_dir: Path, topology: Topology, region: str, *, keyed: bool) -> BackupEngine:
    """The backup engine of `region`, with its backup key when it must read the backups (on
    PostgreSQL, pgBackRest's configuration holds what it needs)."""
    from tenantry.platform.crypto import DataKey
    from tenantry.services.backup.engines.choose import (
        BackupsTurnedOff,
        backup_engine,
        require_backups,
    )
    from tenantry.services.backup.layout import RegionLayout, UnknownRegion
    from tenantry.services.kms.backup_key import BackupKeyMissing, load_backup_key

    key: DataKey | None = None
    try:
        require_backups(topology)
    except BackupsTurnedOff as exc:
        raise BackupCommandError(str(exc)) from None
    if keyed and not topology.uses_postgres:
        layout = RegionLayout(data_dir, topology, region)
        try:
            key = load_backup_key(data_dir, layout.key_region)
        except BackupKeyMissing as exc:
            raise BackupCommandError(str(exc)) from None
    try:
        return backup_engine(data_dir, topology, region, key)
    except (UnknownRegion, ValueError) as exc:
        raise BackupCommandError(str(exc)) from None


def parse_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (to the second; UTC when it names no offset), or None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BackupCommandError(
            f"--at {value!r} is not an ISO 8601 time such as 2026-12-04T10:15:00Z", code=2
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise BackupCommandError(f"--at {value} is in the future", code=2)
    return moment.astimezone(UTC)


@contextlib.contextmanager
def cloud_stopped(data_dir: Path) -> Iterator[None]:
    """Hold the lock `up` takes, so no cloud runs (or starts) on `data_dir` meanwhile."""
    dirs = DataDir.at(data_dir)
    fd = os.open(dirs.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupCommandError(
                f"a cloud is running on {data_dir}: stop it (Ctrl-C its `tenantry up`) before "
                "restoring over its live files",
                code=1,
            ) from None
        alive = _live_children(dirs)
        if alive:
            raise BackupCommandError(
                f"processes of a cloud still run on {data_dir}: {', '.join(alive)}; "
                "stop them before restoring over their live files"
            )
        yield
    finally:
        os.close(fd)


def _live_children(dirs: DataDir) -> list[str]:
    try:
        children = read_json(dirs.pids_file).get("children", {})
    except (OSError, ValueError):
        return []
    alive = []
    for name, pid in children.items() if isinstance(children, dict) else ():
        if isinstance(pid, int) and _serves(pid, dirs.root):
            alive.append(f"{name} (pid {pid})")
    return alive


def _serves(pid: int, root: Path) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in command and str(root).encode() in b" ".join(command)


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Any]:
    """A rich progress bar, and the `Progress` callback engines report to."""
    columns = (
        TextColumn(f"{label} [bold]{{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=None)

        def report(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=max(total, 1))

        yield report


def _fail(exc: BackupCommandError) -> typer.Exit:
    err.print(f"[red]tenantry backup:[/] {exc}")
    return typer.Exit(exc.code)


# -- status -------------------------------------------------------------------------------------


def status_document(data_dir: Path, regions: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every database of `regions` and how it is protected, as plain data."""
    from tenantry.services.backup.layout import RegionLayout

    topology = recorded_topology(data_dir)
    rows: list[dict[str, Any]] = []
    for region in regions:
        engine = engine_for(data_dir, topology, region, keyed=False)
        drill = _last_drill(RegionLayout(data_dir, topology, region))
        for state in engine.states():
            rows.append(_state_row(region, state, drill))
    return rows


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _state_row(region: str, state: DatabaseState, drill: dict[str, Any]) -> dict[str, Any]:
    repositories = [
        {
            "name": r.name,
            "location": r.location,
            "reachable": r.reachable,
            "behind_seconds": None if r.behind_seconds is None else round(r.behind_seconds, 3),
        }
        for r in state.repositories
    ]
    known = [r for r in state.repositories if r.behind_seconds is not None]
    behind = None
    if len(known) == len(state.repositories) and known:
        worst = max(known, key=lambda r: r.behind_seconds or 0.0)
        best = min(known, key=lambda r: r.behind_seconds or 0.0)
        if (worst.behind_seconds or 0.0) - (best.behind_seconds or 0.0) > 1.0:
            behind = worst.name
    elif known:
        behind = next(r.name for r in state.repositories if r.behind_seconds is None)
    unreachable = [r.name for r in state.repositories if not r.reachable]
    if unreachable:
        behind = unreachable[0]
    return {
        "region": region,
        "database": f"{state.database.shard}/{state.database.service or 'postgres'}",
        "shard": state.database.shard,
        "service": state.database.service,
        "tool": state.tool,
        "last_full_backup": _iso(state.last_full_backup),
        "behind_seconds": None if state.behind_seconds is None else round(state.behind_seconds, 3),
        "oldest_restorable": _iso(state.oldest_restorable),
        "repositories": repositories,
        "repository_behind": behind,
        "last_verified_restore": drill.get("finished_at"),
        "last_verified_ok": drill.get("ok"),
        "problems": list(state.problems),
    }


def _last_drill(layout: RegionLayout) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(layout.drill_file.read_text())
    except (OSError, ValueError):
        return {}
    return document


@backup_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, for scripts.")] = False,
    region: RegionOption = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Every database: its tool, last full backup, how far behind its continuous copy is now,
    its oldest restorable second, both repositories (and which is behind), the last drill."""
    data_dir = resolve_data_dir(data_dir_given)
    try:
        rows = status_document(data_dir, chosen_regions(recorded_topology(data_dir), region))
    except BackupCommandError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title="Backups", title_justify="left")
    for column in ("database", "tool", "last full", "behind (s)", "oldest restorable"):
        table.add_column(column)
    table.add_column("repositories")
    table.add_column("last drill")
    for row in rows:
        repos = ", ".join(
            f"{r['name']}{'' if r['reachable'] else ' UNREACHABLE'}"
            f" ({'-' if r['behind_seconds'] is None else r['behind_seconds']} s)"
            for r in row["repositories"]
        )
        if row["repository_behind"]:
            repos += f"; behind: {row['repository_behind']}"
        drill = row["last_verified_restore"] or "never"
        if row["last_verified_ok"] is False:
            drill += " FAILED"
        table.add_row(
            f"{row['region']}:{row['database']}",
            row["tool"],
            row["last_full_backup"] or "none",
            "-" if row["behind_seconds"] is None else str(row["behind_seconds"]),
            row["oldest_restorable"] or "-",
            repos,
            drill,
        )
    out.print(table)
    for row in rows:
        for problem in row["problems"]:
            out.print(f"[yellow]{row['region']}:{row['database']}:[/] {problem}")


# -- full backups --------------------------------------------------------------------------------


@backup_app.command("now")
def now(region: RegionOption = None, data_dir_given: DataDirOption = None) -> None:
    """Take a full backup of every database now (of one region with --region)."""
    from tenantry.services.backup.engines.pgbackrest.cloud import RegionEngine

    data_dir = resolve_data_dir(data_dir_given)
    try:
        topology = recorded_topology(data_dir)
        servers_done: set[str] = set()
        for name in chosen_regions(topology, region):
            engine = engine_for(data_dir, topology, name, keyed=True)
            with progress_bar(f"full backup {name}") as report:
                if isinstance(engine, RegionEngine):
                    engine.back_up_now(report, servers_done)
                else:
                    engine.back_up_now(report)
            out.print(f"{name}: full backup taken")
    except BackupCommandError as exc:
        raise _fail(exc) from None
    except (RuntimeError, OSError) as exc:
        raise _fail(BackupCommandError(str(exc))) from None


# -- disaster recovery ---------------------------------------------------------------------------


@backup_app.command("restore")
def restore(
    region: Annotated[str, typer.Option("--region", help="The region, or `global`.")],
    at: Annotated[
        str | None, typer.Option("--at", help="ISO 8601 time (default: the latest held).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: live files are replaced.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Disaster recovery: bring every database and the media store of a region back from its
    backups, with the cloud stopped. `up` then starts it as usual, and serves the sites the
    restore rewound once it has replayed their erasure ledgers."""
    from tenantry.cli.erasure_replay import note_region_restored

    data_dir = resolve_data_dir(data_dir_given)
    try:
        moment = parse_time(at)
        topology = recorded_topology(data_dir)
        chosen_regions(topology, region)
        if not yes:
            raise BackupCommandError(
                f"restoring {region} replaces its live databases; add --yes to go on", code=2
            )
        engine = engine_for(data_dir, topology, region, keyed=True)
        _check_within_retention(engine, moment)
        with cloud_stopped(data_dir), progress_bar(f"restore {region}") as report:
            engine.restore_in_place(moment, report)
            note_region_restored(data_dir, region)
    except BackupCommandError as exc:
        raise _fail(exc) from None
    except RuntimeError as exc:
        raise _fail(BackupCommandError(str(exc))) from None
    when = "the latest second held" if moment is None else moment.isoformat()
    out.print(f"{region}: restored to {when}; integrity checked. Start it with `tenantry up`.")
    out.print(
        f"`tenantry up` serves {region}'s sites again once it has replayed their erasure "
        "ledgers, so no erased person comes back"
    )


def _check_within_retention(engine: BackupEngine, moment: datetime | None) -> None:
    if moment is None:
        return
    oldest = [s.oldest_restorable for s in engine.states() if s.oldest_restorable is not None]
    if not oldest:
        raise BackupCommandError("the repositories hold no backups to restore from")
    if moment < min(oldest):
        raise BackupCommandError(
            f"--at {moment.isoformat()} is before the oldest second the backups hold "
            f"({min(oldest).isoformat(timespec='seconds')}): outside the retention",
            code=2,
        )


# -- restore drill -------------------------------------------------------------------------------


@backup_app.command("verify")
def verify(region: RegionOption = None, data_dir_given: DataDirOption = None) -> None:
    """A restore drill: restore the latest and a random earlier second of every database into
    scratch space, check integrity and that the rows open under their tenants' keys, remove it.
    Exit 1, naming what failed, on any failure."""
    from tenantry.cli.backup_drill import raise_if_failed, run_drill
    from tenantry.cli.backup_drill_events import record_drill
    from tenantry.services.backup.layout import GLOBAL

    data_dir = resolve_data_dir(data_dir_given)
    try:
        topology = recorded_topology(data_dir)
        results = []
        for name in chosen_regions(topology, region):
            with progress_bar(f"drill {name}") as report:
                result = run_drill(data_dir, name, report)
            results.append(result)
            verdict = "ok" if result.ok else f"{len(result.failures)} FAILED"
            out.print(f"{name}: {len(result.checked)} restores checked, {verdict}")
        # The global databases hold no site's own data; each region's drill goes to the logs
        # of its sites.
        for result in results:
            if result.region != GLOBAL:
                sites = record_drill(data_dir, result)
                out.print(f"{result.region}: recorded in {sites} sites' audit logs")
        raise_if_failed(results)
    except BackupCommandError as exc:
        raise _fail(exc) from None
