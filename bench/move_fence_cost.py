"""What the move fence (the triggers that capture and freeze a moving tenant's writes) costs an
ordinary write, on a SQLite shard database of the issues service built by its revisions.

Three runs of the same writes, interleaved round by round: without the fence's triggers; with
them and no tenant moving (what every tenant pays once a shard has seen a move: one primary-key
lookup per written row); and with them while the writing tenant is being moved (the key of each
written row is also appended to the change table). Each write is its own transaction (an insert
of a project row, then an update of it), committed with `synchronous=NORMAL` so the sync to disk
does not hide the statements' own cost. Reported: the median time per write and its ratio to the
run without triggers.

Run: `.venv/bin/python bench/move_fence_cost.py [--writes N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

from tenantry.cli.move_databases import open_database
from tenantry.cli.tenant_rows import tenant_tables
from tenantry.platform.storage import SqliteBackend
from tenantry.platform.topology import load_topology
from tenantry.services.issues.models import SCHEMA

TENANT = "bench-tenant"


def writes(engine: Engine, prefix: str, count: int) -> float:
    """Seconds per write: `count` inserts and as many updates, each its own transaction."""
    began = time.perf_counter()
    for number in range(count):
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO projects (tenant_id, key, name, last_number, created_at)"
                    " VALUES (:t, :k, 'n', 0, '2026-12-04T00:00:00Z')"
                ),
                {"t": TENANT, "k": f"{prefix}{number}"},
            )
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE projects SET last_number = 1 WHERE tenant_id = :t AND key = :k"),
                {"t": TENANT, "k": f"{prefix}{number}"},
            )
    return (time.perf_counter() - began) / (2 * count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["TENANTRY_SQLITE_SYNCHRONOUS"] = "normal"
    with tempfile.TemporaryDirectory(prefix="tenantry-fence-") as tmp:
        backend = SqliteBackend(Path(tmp))
        engines = {}
        for shard in ("eu-1", "eu-2", "us-1"):
            backend.migrate(SCHEMA, shard)
            engines[shard] = backend.open(SCHEMA, shard)
        topology = load_topology(None)
        for shard, state in (("eu-2", None), ("us-1", "capturing")):
            database = open_database(Path(tmp), topology, "issues", shard, tenant_tables(SCHEMA))
            database.install_fence()
            if state is not None:
                with database.writer.begin() as connection:
                    connection.execute(
                        text("INSERT INTO tenantry_moves VALUES (:t, 'bench', :s)"),
                        {"t": TENANT, "s": state},
                    )
            database.dispose()
        runs = {"no triggers": "eu-1", "triggers, no move": "eu-2", "triggers, moving": "us-1"}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_number in range(args.rounds):
            for name, shard in runs.items():
                times[name].append(writes(engines[shard], f"r{round_number}-", args.writes))
        base = statistics.median(times["no triggers"])
        for name, per in times.items():
            median = statistics.median(per)
            print(f"{name:>18}: {median * 1e6:7.1f} µs per write, {median / base:.3f}x")


if __name__ == "__main__":
    main()
