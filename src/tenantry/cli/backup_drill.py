"""`tenantry backup verify`: a restore drill, proving the backups can be restored, not hoping so.

For every database of a region it restores the latest second the backups hold and a random
earlier one into scratch space, through the backup engine (which checks integrity). In each
copy of a shard's kms database every tenant's data key must unwrap under the region's root
keys, and in every other copy each sealed value must name a key version its tenant has (and
that unwrapped) at that second: the restored rows open under their tenants' keys. The scratch
space is removed. The result is kept for `backup status`; `up` runs the drill every day.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import URL, Engine, LargeBinary, create_engine, select, text
from sqlalchemy.pool import NullPool

from tenantry.cli.backup import BackupCommandError, engine_for, recorded_topology
from tenantry.platform.crypto import CiphertextRejected, key_version
from tenantry.platform.files import write_atomically
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.storage.model import KEEP_LIVE, RESTORE_POLICY
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import BackupEngine, Database
from tenantry.services.backup.engines.pgbackrest.cloud import RegionEngine
from tenantry.services.backup.layout import BACKUPS, GLOBAL, RegionLayout
from tenantry.services.kms.backup_key import key_directory
from tenantry.services.kms.data_key_store import DESTROYED
from tenantry.services.kms.keyring import wrap_context
from tenantry.services.kms.providers import KeyProviderError, LocalKeyProvider
from tenantry.services.registry import SPECS, spec

Report = Callable[[str, int, int], None]
CUSTOMER_KEY_ROOT_VERSION = 0


@dataclass
class DrillResult:
    """What one region's drill found."""

    region: str
    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every restore and check passed."""
        return not self.failures


def run_drill(data_dir: Path, region: str, report: Report) -> DrillResult:
    """Drill `region` (or `global`) and record the result; never raises for a failed check."""
    topology = recorded_topology(data_dir)
    result = DrillResult(region)
    engine = engine_for(data_dir, topology, region, keyed=True)
    states = [s for s in engine.states() if s.oldest_restorable is not None]
    if not states:
        result.failures.append(f"{region}: the repositories hold no backups")
    if isinstance(engine, RegionEngine):
        # pgBackRest checks every file of every repository against its checksum.
        result.failures += [f"{region}: {problem}" for problem in engine.verify()]
    scratch = Path(tempfile.mkdtemp(dir=data_dir / BACKUPS, prefix=".drill-"))
    try:
        for number, state in enumerate(states):
            name = f"{state.database.shard}/{state.database.service or 'postgres'}"
            report(f"{region}:{name}", number, len(states))
            assert state.oldest_restorable is not None
            now = datetime.now(UTC)
            span = max((now - state.oldest_restorable).total_seconds() - 2, 0)
            earlier = state.oldest_restorable + timedelta(seconds=1 + random.uniform(0, span))
            for moment in (None, min(earlier, now)):
                when = "latest" if moment is None else moment.isoformat(timespec="seconds")
                label = f"{region}:{name} at {when}"
                try:
                    with engine.restore_copy(state.database, moment, scratch) as url:
                        copy = create_engine(url, poolclass=NullPool)
                        try:
                            problems = _rows_open(
                                data_dir,
                                topology,
                                region,
                                state.database,
                                copy,
                                engine,
                                moment,
                                scratch,
                            )
                        finally:
                            copy.dispose()
                except (RuntimeError, OSError, CiphertextRejected) as exc:
                    result.failures.append(f"{label}: {exc}")
                    continue
                result.failures += [f"{label}: {p}" for p in problems]
                result.checked.append(label)
        report("done", len(states), len(states))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _record(RegionLayout(data_dir, topology, region), result)
    return result


def _rows_open(
    data_dir: Path,
    topology: Topology,
    region: str,
    database: Database,
    copy: Engine,
    engine: BackupEngine,
    moment: datetime | None,
    scratch: Path,
) -> list[str]:
    """What in a restored copy would not open under its tenants' keys."""
    if region == GLOBAL:
        return []
    if database.service is None:
        return _schemas_open(data_dir, region, copy.url)
    if database.service == "kms":
        _usable, problems = _unwrapped_versions(data_dir, region, copy)
        return problems
    schema = spec(database.service).schema
    if schema is None:
        return []
    restore_copy = engine.restore_copy
    with restore_copy(Database(database.shard, "kms"), moment, scratch) as kms_url:
        kms = create_engine(kms_url, poolclass=NullPool)
        try:
            usable, _ = _unwrapped_versions(data_dir, region, kms)
        finally:
            kms.dispose()
    return _sealed_values_open(copy, schema, usable)


def _in_schema(url: URL, service: str) -> Engine:
    return create_engine(
        url, poolclass=NullPool, connect_args={"options": f'-c search_path="{service}"'}
    )


def _schemas_open(data_dir: Path, region: str, url: URL) -> list[str]:
    """On PostgreSQL one copy of a shard holds every service's schema: kms's says which key
    versions unwrap, and every other service's sealed values must name one of them."""
    kms = _in_schema(url, "kms")
    try:
        usable, problems = _unwrapped_versions(data_dir, region, kms)
    finally:
        kms.dispose()
    for service in SPECS:
        if service.schema is None or not service.shard_databases or service.name == "kms":
            continue
        copy = _in_schema(url, service.name)
        try:
            problems += [
                f"{service.name}: {p}" for p in _sealed_values_open(copy, service.schema, usable)
            ]
        finally:
            copy.dispose()
    return problems


def _sealed_values_open(
    copy: Engine, schema: ServiceSchema, usable: dict[str, set[int]]
) -> list[str]:
    """Each sealed value of a tenant's rows that names a key version the tenant lacks."""
    problems = []
    with copy.connect() as connection:
        for table in schema.metadata.sorted_tables:
            if "tenant_id" not in table.c or table.info.get(RESTORE_POLICY) == KEEP_LIVE:
                continue
            sealed = [c for c in table.columns if isinstance(c.type, LargeBinary)]
            for column in sealed:
                rows = connection.execute(
                    select(table.c.tenant_id, column).where(column.is_not(None))
                )
                for tenant_id, value in rows:
                    try:
                        version = key_version(bytes(value))
                    except CiphertextRejected as exc:
                        problems.append(
                            f"{table.name}.{column.name}: a value is not sealed ({exc.reason})"
                        )
                        continue
                    if version not in usable.get(str(tenant_id), set()):
                        problems.append(
                            f"{table.name}.{column.name}: a value of tenant {tenant_id} names key "
                            f"version {version}, which does not open"
                        )
    return problems


def _unwrapped_versions(
    data_dir: Path, region: str, kms: Engine
) -> tuple[dict[str, set[int]], list[str]]:
    """Each tenant's data key versions that unwrap, and what did not."""
    provider = LocalKeyProvider(key_directory(data_dir, region))
    usable: dict[str, set[int]] = {}
    problems = []
    query = text(
        "SELECT tenant_id, version, wrapped, root_key_ref, root_version, state FROM data_keys"
    )
    with kms.connect() as connection:
        for tenant_id, version, wrapped, ref, root_version, state in connection.execute(query):
            if state == DESTROYED:
                continue
            if root_version == CUSTOMER_KEY_ROOT_VERSION:
                usable.setdefault(str(tenant_id), set()).add(int(version))
                continue  # under the customer's own key: only their KMS can open it
            try:
                provider.unwrap(
                    str(ref), bytes(wrapped), wrap_context(str(tenant_id), int(version))
                )
            except KeyProviderError as exc:
                problems.append(
                    f"data key {version} of tenant {tenant_id} does not unwrap ({exc.reason})"
                )
                continue
            usable.setdefault(str(tenant_id), set()).add(int(version))
    return usable, problems


def _record(layout: RegionLayout, result: DrillResult) -> None:
    document = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ok": result.ok,
        "checked": len(result.checked),
        "failures": result.failures,
    }
    layout.drill_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(layout.drill_file, json.dumps(document).encode(), 0o600)


def raise_if_failed(results: list[DrillResult]) -> None:
    """BackupCommandError naming every failure, if any."""
    failures = [f for r in results for f in r.failures]
    if failures:
        raise BackupCommandError("the restore drill failed:\n  " + "\n  ".join(failures))
