"""`tenantry migrate`: bring every service database of a cloud to the revision its code expects.

The targets are every registered service's databases: on the global database, on every shard,
or both, as its spec says. Each target migrates in one transaction (all of its revisions or
none), several at a time. A target already at the head revision is skipped. After a failure no
new target starts; the ones under way finish, so a second run picks up exactly what is left,
including the target that failed. `up` runs the same steps before it starts any service. On
PostgreSQL the steps begin by creating any database the topology names that the cluster lacks.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tenantry.cli.datadir import DataDir
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import storage_backend
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.postgres_databases import DatabaseSetupError, ensure_database
from tenantry.platform.topology import Topology, TopologyError, load_topology
from tenantry.services.registry import SPECS

DEFAULT_JOBS = 4


class MigrationFailed(Exception):
    """A database could not be reached or created; the message is fit to show as is."""


SCHEMAS = {spec.name: spec.schema for spec in SPECS if spec.schema is not None}


@dataclass(frozen=True)
class Target:
    """One service's database on one shard."""

    service: str
    shard: str

    @property
    def schema(self) -> ServiceSchema:
        """The service's tables and revisions."""
        return SCHEMAS[self.service]

    @property
    def name(self) -> str:
        """How the target is shown: `issues on shard eu-1`."""
        place = "the global database" if self.shard == GLOBAL_SHARD else f"shard {self.shard}"
        return f"{self.schema.service} on {place}"


@dataclass(frozen=True)
class Outcome:
    """What happened to one target: `before` -> `after`, or the error that stopped it."""

    target: Target
    before: str | None
    after: str | None
    error: str | None = None

    @property
    def skipped(self) -> bool:
        """True when the target was already at the head revision."""
        return self.error is None and self.before == self.after == self.target.schema.head


def targets(topology: Topology) -> list[Target]:
    """Every database the cloud needs: the global services first, then each shard's."""
    found = [Target(spec.name, GLOBAL_SHARD) for spec in SPECS if spec.global_database]
    return found + [
        Target(spec.name, shard)
        for spec in SPECS
        if spec.shard_databases
        for shard in topology.shards
    ]


def create_databases(topology: Topology) -> list[str]:
    """Create every PostgreSQL database the topology names and the cluster lacks; their names."""
    if not topology.uses_postgres:
        return []
    dsns = [topology.global_dsn] + [shard.dsn for shard in topology.shards.values()]
    created = []
    for dsn in dict.fromkeys(d for d in dsns if d is not None):
        try:
            if ensure_database(dsn):
                created.append(str(make_url(dsn).database))
        except DatabaseSetupError as exc:
            raise MigrationFailed(str(exc)) from None
    return created


def migrate_cloud(
    topology: Topology,
    data_dir: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
) -> list[Outcome]:
    """Migrate every target, `jobs` at a time; stop starting new ones after the first failure.

    Targets already current are found first and skipped. Returns the outcome of every target
    that was looked at (a target never started after a failure has none). `on_outcome` sees
    each as it arrives, for progress display. SQLite files are migrated by threads of this
    process (new ones are built at head and mostly wait on the disk; revisions still run one
    at a time), PostgreSQL databases by worker processes.
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    create_databases(topology)
    backend = storage_backend(topology, data_dir)
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> bool:
        outcomes.append(outcome)
        on_outcome(outcome)
        return outcome.error is None

    pending = []
    for target in targets(topology):
        try:
            before = backend.revision(target.schema, target.shard)
        except (SQLAlchemyError, OSError, ValueError) as exc:
            record(Outcome(target, None, None, _reason(exc)))
            return outcomes
        if before == target.schema.head:
            record(Outcome(target, before, before))
        else:
            pending.append(target)
    if jobs == 1 or len(pending) <= 1:
        for target in pending:
            if not record(_migrate_one(topology, data_dir, target)):
                break
        return outcomes
    pool: Executor
    if topology.uses_postgres:
        # Processes, not threads: Alembic keeps the running migration in module globals.
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn")
        )
    else:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="migrate")
    with pool:
        running: set[Future[Outcome]] = set()
        work = partial(_migrate_one, topology, data_dir)
        for outcome in _as_completed(pool, running, iter(pending), work, jobs):
            record(outcome)
    return outcomes


def _as_completed(
    pool: Executor,
    running: set[Future[Outcome]],
    queue: Iterator[Target],
    work: Callable[[Target], Outcome],
    jobs: int,
) -> Iterator[Outcome]:
    failed = False
    while True:
        while not failed and len(running) < jobs:
            target = next(queue, None)
            if target is None:
                break
            running.add(pool.submit(work, target))
        if not running:
            return
        done, pending = wait(running, return_when=FIRST_COMPLETED)
        running.clear()
        running.update(pending)
        for future in done:
            outcome = future.result()
            failed = failed or outcome.error is not None
            yield outcome


def _migrate_one(topology: Topology, data_dir: Path, target: Target) -> Outcome:
    """Migrate one target unless it is current; an error becomes a failed outcome."""
    schema, shard = target.schema, target.shard
    before: str | None = None
    try:
        backend = storage_backend(topology, data_dir)
        before = backend.revision(schema, shard)
        if before == schema.head:
            return Outcome(target, before, before)
        backend.migrate(schema, shard)
        return Outcome(target, before, backend.revision(schema, shard))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return Outcome(target, before, before, _reason(exc))


def _reason(exc: Exception) -> str:
    """The database's own words on one line (a driver error, not the SQLAlchemy wrapper)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def migrate_with_progress(
    topology: Topology, data_dir: Path, console: Console, *, jobs: int = DEFAULT_JOBS
) -> list[Outcome]:
    """`migrate_cloud` with a progress bar and one line per target that changed or failed."""
    columns = (
        TextColumn("Migrating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("migrate", total=len(targets(topology)))

        def show(outcome: Outcome) -> None:
            progress.advance(task)
            if outcome.error is not None:
                progress.console.print(f"[red]failed:[/] {outcome.target.name}: {outcome.error}")
            elif not outcome.skipped:
                before = outcome.before or "empty"
                progress.console.print(f"{outcome.target.name}: {before} -> {outcome.after}")

        return migrate_cloud(topology, data_dir, jobs=jobs, on_outcome=show)


def run_migrate(data_dir: Path, config: Path | None, jobs: int) -> int:
    """The `tenantry migrate` command: 0 when every target is current, 1 on a failure."""
    out, err = Console(highlight=False), Console(stderr=True, highlight=False, soft_wrap=True)
    dirs = DataDir.at(data_dir)
    if config is None and dirs.topology_file.exists():
        config = dirs.topology_file  # the topology the cloud in this directory runs with
    try:
        topology = load_topology(config)
        outcomes = migrate_with_progress(topology, dirs.root, out, jobs=jobs)
    except (TopologyError, ValueError) as exc:
        err.print(f"[red]tenantry migrate:[/] {exc}")
        return 2
    except MigrationFailed as exc:
        err.print(f"[red]tenantry migrate:[/] {exc}")
        return 1
    failed = [o for o in outcomes if o.error is not None]
    left = len(targets(topology)) - len(outcomes)
    current = sum(1 for o in outcomes if o.skipped)
    migrated = len(outcomes) - current - len(failed)
    out.print(
        f"{migrated} migrated, {current} already current, {len(failed)} failed, {left} not started."
    )
    if failed:
        err.print(
            "[red]tenantry migrate:[/] stopped after a failure; each failed database was left as "
            "it was. Fix the cause and run `tenantry migrate` again: it resumes where it stopped."
        )
        return 1
    return 0
