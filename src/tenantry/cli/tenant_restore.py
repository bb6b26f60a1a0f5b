"""`tenantry tenant restore SITE --at TIME`: one tenant's data back to a second, in place.

The tenant answers 503 `tenant_restoring` at every edge meanwhile (its catalog status, which
reaches every edge as a suspension does). Each database of its shard, and each global one, is
restored through the backup engine to a scratch copy at TIME (on PostgreSQL, one copy of a shard's
database serves every service's schema in it); then the tenant's rows of every
tenant-scoped table (every table of every registered schema with a `tenant_id` column) are put
back in one transaction per database, counted and checksummed against the copy before it
commits, and the scratch copy is dropped. Tables whose `info` says `keep_live` (data keys,
revoked tokens) keep today's rows: a restore never brings back a destroyed key, undoes a
retirement, or revives a revoked token. Blobs the restored rows name and the store lost come
back from the backup repositories. Neighbours' rows are never read or written. Last, while the
site is still restoring, its erasure ledger (which the restore keeps as it is now) is replayed,
so an account erased after TIME is erased again before anyone can read it; if the replay fails,
the site stays restoring and the command fails saying why (run it again).

A journal (`backups/tenant-restores/<cloud id>.json`) remembers the tenant's status before, so a
restore cut short is run again and finishes: every database step is all or nothing and may be
repeated.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Table,
    create_engine,
    make_url,
    text,
)
from sqlalchemy.pool import NullPool

from tenantry.cli.backup import BackupCommandError, engine_for, recorded_topology
from tenantry.cli.data_key_rotation import rotate_data_key
from tenantry.cli.erasure_replay import ReplayFailed, replay
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator, set_tenant_status
from tenantry.cli.site_calls import OperatorCallFailed, answer, site_context
from tenantry.cli.tenant_rows import (
    RowsDiffer,
    check_same,
    replace_tenant_rows,
    tenant_rows,
    tenant_tables,
)
from tenantry.cli.tenants import site_info
from tenantry.platform.client import ServiceClient
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import KEEP_LIVE, KEEP_LIVE_COLUMNS, RESTORE_POLICY
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import Database
from tenantry.services.backup.layout import BACKUPS, GLOBAL, RegionLayout
from tenantry.services.kms.data_key_store import ACTIVE, RETIRED
from tenantry.services.registry import SPECS
from tenantry.services.tcs.catalog import DELETED, PURGED, PURGING

RESTORING = "restoring"
ERASURE_LEDGER = "erasure ledger"
"""The name of the replay's step among what a restore did (its rows: the erasures replayed)."""
EDGE_FOLLOW_SECONDS = 1.5
"""Every edge follows a catalog change within a second; wait a little more before copying."""

Report = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class StoreRestored:
    """What a restore did in one database."""

    database: str
    tables: int
    rows: int
    kept_live: tuple[str, ...]


def _journal(data_dir: Path, cloud_id: str) -> Path:
    return data_dir / BACKUPS / "tenant-restores" / f"{cloud_id}.json"


def restore_tenant(data_dir: Path, site: str, at: datetime, report: Report) -> list[StoreRestored]:
    """Restore `site` in place to `at`; what was done per database."""
    topology = recorded_topology(data_dir)
    tenant = _tenant(data_dir, site)
    if tenant["status"] in (PURGING, PURGED):
        raise BackupCommandError(
            f"{site} was purged: its data keys were destroyed, so nothing of it can be restored"
        )
    if tenant["status"] == DELETED:
        raise BackupCommandError(
            f"{site} is deleted; bring it back with `tenantry tenant undelete {site}` first"
        )
    journal = _journal(data_dir, tenant["cloud_id"])
    previous = tenant["status"]
    if journal.exists():
        previous = json.loads(journal.read_text())["previous_status"]
    elif previous == RESTORING:
        previous = "active"
    databases = _databases_of(topology, tenant)
    _check_within_retention(data_dir, topology, databases, at)
    journal.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    journal.write_text(json.dumps({"previous_status": previous, "at": at.isoformat()}))
    _set_status(data_dir, site, RESTORING)
    time.sleep(EDGE_FOLLOW_SECONDS)
    done: list[StoreRestored] = []
    stale: list[int] = []
    scratch = Path(tempfile.mkdtemp(dir=data_dir / BACKUPS, prefix=".tenant-restore-"))
    copies = _by_copy(topology, databases)
    try:
        for number, (region, copied, members) in enumerate(copies):
            report(f"{copied.shard}/{copied.service or 'postgres'}", number, len(copies) + 1)
            engine = engine_for(data_dir, topology, region, keyed=True)
            with engine.restore_copy(copied, at, scratch) as url:
                for database, schema in members:
                    copy = _engine(url, topology, schema.service)
                    live = live_engine(data_dir, topology, database)
                    try:
                        done.append(_copy_rows(copy, live, schema, tenant["cloud_id"], database))
                        if database.service == "kms" and database.shard != GLOBAL_SHARD:
                            stale = _retired_since(copy, live, tenant["cloud_id"])
                    finally:
                        copy.dispose()
                        live.dispose()
        report("media blobs", len(copies), len(copies) + 1)
        blobs = _restore_blobs(data_dir, topology, tenant)
        done.append(StoreRestored("media blobs", 0, blobs, ()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if stale:
        report(f"resealing what key versions {stale} sealed", len(copies), len(copies) + 1)
        done.append(_reseal(data_dir, site))
    report("replaying the erasure ledger", len(copies), len(copies) + 1)
    try:
        replayed = replay(data_dir, site)
    except ReplayFailed as exc:
        raise BackupCommandError(
            f"{exc}; {site} stays restoring (not served): run the restore again"
        ) from None
    done.append(StoreRestored(ERASURE_LEDGER, 0, int(replayed["replayed"]), ()))
    _set_status(data_dir, site, previous)
    journal.unlink(missing_ok=True)
    report("done", len(copies) + 1, len(copies) + 1)
    return done


def _tenant(data_dir: Path, site: str) -> dict[str, Any]:
    return online_tenant(data_dir, site, "a tenant restore")


def online_tenant(data_dir: Path, site: str, command: str) -> dict[str, Any]:
    """The catalog's row of `site` from the running cloud, for `command`, which runs online."""
    try:
        return site_info(data_dir, site)
    except OperatorCallFailed as exc:
        raise BackupCommandError(str(exc)) from None
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(
            f"no running cloud in {data_dir} ({exc}); {command} runs online", code=2
        ) from None


def _set_status(data_dir: Path, site: str, status: str) -> None:
    try:
        answer = set_tenant_status(data_dir, site, status)
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(f"cannot reach tcs to mark {site} {status}: {exc}") from None
    if answer.status != 200:
        raise BackupCommandError(f"tcs refused to mark {site} {status}: {answer.body[:200]!r}")


def _databases_of(
    topology: Topology, tenant: dict[str, Any]
) -> list[tuple[str, Database, ServiceSchema]]:
    """Each database that holds rows of the tenant: its shard's, then the global ones."""
    found: list[tuple[str, Database, ServiceSchema]] = []
    for spec in SPECS:
        if spec.schema is None or not tenant_tables(spec.schema):
            continue
        if spec.shard_databases:
            found.append((tenant["region"], Database(tenant["shard"], spec.name), spec.schema))
        if spec.global_database:
            found.append((GLOBAL, Database(GLOBAL_SHARD, spec.name), spec.schema))
    return found


def _copied(topology: Topology, database: Database) -> Database:
    """The database a backup engine restores to reach `database`: on PostgreSQL one database
    holds every service's schema of a shard."""
    return Database(database.shard, None) if topology.uses_postgres else database


def _by_copy(
    topology: Topology, databases: list[tuple[str, Database, ServiceSchema]]
) -> list[tuple[str, Database, list[tuple[Database, ServiceSchema]]]]:
    """The databases grouped by the restored copy they are read from, in order."""
    groups: dict[tuple[str, Database], list[tuple[Database, ServiceSchema]]] = {}
    for region, database, schema in databases:
        groups.setdefault((region, _copied(topology, database)), []).append((database, schema))
    return [(region, copied, members) for (region, copied), members in groups.items()]


def _check_within_retention(
    data_dir: Path,
    topology: Topology,
    databases: list[tuple[str, Database, ServiceSchema]],
    at: datetime,
) -> None:
    for region in {region for region, _, _ in databases}:
        engine = engine_for(data_dir, topology, region, keyed=False)
        wanted = {_copied(topology, database) for r, database, _ in databases if r == region}
        for state in engine.states():
            if state.database not in wanted:
                continue
            if state.oldest_restorable is None or at < state.oldest_restorable:
                oldest = (
                    "nothing yet"
                    if state.oldest_restorable is None
                    else state.oldest_restorable.isoformat(timespec="seconds")
                )
                raise BackupCommandError(
                    f"--at {at.isoformat()} is outside what the backups of "
                    f"{state.database.shard}/{state.database.service or 'postgres'} hold "
                    f"(oldest: {oldest})",
                    code=2,
                )


def _engine(url: URL, topology: Topology, service: str) -> Engine:
    """An engine on `url`; on PostgreSQL with `service`'s schema as its search path."""
    if not topology.uses_postgres:
        return create_engine(url, poolclass=NullPool)
    return create_engine(
        url, poolclass=NullPool, connect_args={"options": f'-c search_path="{service}"'}
    )


def live_engine(data_dir: Path, topology: Topology, database: Database) -> Engine:
    """The live database, as its administrator on PostgreSQL (the topology's DSN): the rows put
    back are every service's, past row-level security."""
    assert database.service is not None
    if not topology.uses_postgres:
        return SqliteBackend(data_dir).engine(database.service, database.shard)
    shard = database.shard
    dsn = topology.global_dsn if shard == GLOBAL_SHARD else topology.shard(shard).dsn
    assert dsn is not None
    url = make_url(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    return _engine(url, topology, database.service)


def _copy_rows(
    copy: Engine, live: Engine, schema: ServiceSchema, tenant_id: str, database: Database
) -> StoreRestored:
    """Replace the tenant's rows in `live` by those in `copy`, in one checked transaction."""
    tables = [t for t in tenant_tables(schema) if t.info.get(RESTORE_POLICY) != KEEP_LIVE]
    kept = tuple(t.name for t in tenant_tables(schema) if t.info.get(RESTORE_POLICY) == KEEP_LIVE)
    with copy.connect() as source:
        wanted = {t.name: tenant_rows(source, t, tenant_id) for t in tables}
    with live.begin() as connection:
        for table in tables:
            wanted[table.name] = _with_live_columns(
                connection, table, tenant_id, wanted[table.name]
            )
        total = replace_tenant_rows(connection, tables, tenant_id, wanted)
        try:
            check_same(
                connection, tables, tenant_id, wanted, f"{database.shard}/{database.service}"
            )
        except RowsDiffer as exc:
            raise BackupCommandError(
                f"{exc}: the rows put back do not match the backup; nothing was changed there"
            ) from None
    return StoreRestored(f"{database.shard}/{database.service}", len(tables), total, kept)


def _with_live_columns(
    connection: Connection, table: Table, tenant_id: str, rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """`rows` with today's value of each column the table keeps live, where the row exists."""
    keep = table.info.get(KEEP_LIVE_COLUMNS, ())
    if not keep:
        return rows
    names = [c.name for c in table.columns]
    key = [names.index(c.name) for c in table.primary_key.columns]
    kept = [names.index(name) for name in keep]
    today = {tuple(row[i] for i in key): row for row in tenant_rows(connection, table, tenant_id)}
    patched = []
    for row in rows:
        now = today.get(tuple(row[i] for i in key))
        if now is None:
            patched.append(row)
            continue
        values = list(row)
        for i in kept:
            values[i] = now[i]
        patched.append(tuple(values))
    return patched


def _retired_since(copy: Engine, live: Engine, tenant_id: str) -> list[int]:
    """Key versions active at the restored second that a rotation has retired since."""
    query = text("SELECT version, state FROM data_keys WHERE tenant_id = :t")
    with copy.connect() as connection:
        then = {int(v): str(s) for v, s in connection.execute(query, {"t": tenant_id})}
    with live.connect() as connection:
        now = {int(v): str(s) for v, s in connection.execute(query, {"t": tenant_id})}
    return sorted(v for v, state in then.items() if state == ACTIVE and now.get(v) == RETIRED)


def _reseal(data_dir: Path, site: str) -> StoreRestored:
    """Reseal the restored data under a new key version, then retire the older ones again.

    kms reopens the retired versions for this only while the site is restoring; the rotation
    ends as `keys rotate-data-key` does, with every older version retired.
    """

    async def reopen_and_rotate(client: ServiceClient) -> dict[str, Any]:
        tenant = await site_context(client, site)
        answer(
            await client.call("kms", "POST", "/internal/kms/data-key/reopen", **tenant.call_args()),
            "kms reopen",
        )
        return await rotate_data_key(client, site, Console(stderr=True, quiet=True))

    try:
        rotated = run_as_operator(data_dir, reopen_and_rotate, timeout=60.0)
    except OperatorCallFailed as exc:
        raise BackupCommandError(f"resealing the restored data failed: {exc}") from None
    return StoreRestored(
        f"resealed under key version {rotated['version']}",
        0,
        int(rotated["rows"]) + int(rotated["files"]),
        (),
    )


def _restore_blobs(data_dir: Path, topology: Topology, tenant: dict[str, Any]) -> int:
    """Copy back the tenant's blobs the media store lost, from either repository."""
    layout = RegionLayout(data_dir, topology, tenant["region"])
    store = layout.media_store
    if store is None:
        return 0
    copied = 0
    for repository in layout.repositories:
        source = repository.media_dir / tenant["cloud_id"]
        if not source.is_dir():
            continue
        for path in source.rglob("*"):
            target = store / tenant["cloud_id"] / path.relative_to(source)
            if path.is_file() and not path.name.startswith(".") and not target.exists():
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                shutil.copy2(path, target)
                copied += 1
    return copied
