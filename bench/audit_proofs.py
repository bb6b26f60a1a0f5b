"""What an audit proof costs for a log of 1,000,000 events, served from the audit service's own
storage (a real SQLite shard database built by its revisions).

The log is built straight into the tables (leaf hashes and every complete subtree, as appends
would leave them; the entries themselves are not needed by proofs), then the audit store
(`AuditStore.inclusion`, `.consistency`, `.root`, each one read of the nodes it needs) is timed
at random indexes and sizes. As a baseline in the same run, the same proofs are computed from
the whole tree held in memory (`MemoryNodes`): the difference is what storage costs. Goal: an
inclusion proof in under 10 ms at p50.

Run: `.venv/bin/python bench/audit_proofs.py [--events N] [--proofs P]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tenantry.platform.audit import merkle
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.audit.models import SCHEMA, node_key
from tenantry.services.audit.store import AuditStore

TENANT = TenantContext("bench-tenant", "bench", "eu", "eu-1", "active")


def build(path: Path, events: int) -> merkle.MemoryNodes:
    """A log of `events` leaves in the audit tables at `path`, and the same tree in memory."""
    tree = merkle.MemoryNodes()
    rows: list[tuple[str, int, bytes]] = []
    for index in range(events):
        leaf = merkle.leaf_hash(hashlib.sha256(index.to_bytes(8, "big")).digest())
        rows.extend(
            (TENANT.cloud_id, node_key(level, node), digest)
            for level, node, digest in merkle.new_nodes(index, leaf, tree)
        )
        tree.append(leaf)
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO audit_nodes (tenant_id, node_key, hash) VALUES (?, ?, ?)",
            rows,
        )
        connection.execute(
            "INSERT INTO audit_trees (cloud_id, size, signed_size) VALUES (?, ?, ?)",
            (TENANT.cloud_id, events, events),
        )
    return tree


def timed(work: Callable[[], object], count: int) -> list[float]:
    """Wall-clock milliseconds of each of `count` calls of `work`."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(9162)
    with tempfile.TemporaryDirectory() as folder:
        backend = SqliteBackend(Path(folder))
        backend.migrate(SCHEMA, TENANT.shard)
        started = time.perf_counter()
        tree = build(backend.path(SCHEMA.service, TENANT.shard), args.events)
        built = time.perf_counter() - started
        databases = Databases(SCHEMA, backend)
        store = AuditStore(databases, TENANT.region, [TENANT.shard], lambda _c: "")
        n = args.events

        def random_inclusion() -> tuple[int, int]:
            size = rng.randint(n // 2, n)
            return rng.randrange(size), size

        cases: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {}
        with tenant_scope(TENANT):
            size_check = store.size()
            assert size_check == n
            index, size = random_inclusion()
            assert store.inclusion(index, size) == merkle.inclusion_proof(tree, index, size)
            assert store.root(n) == merkle.root_hash(tree, n)

            def stored_inclusion() -> object:
                return store.inclusion(*random_inclusion())

            def memory_inclusion() -> object:
                return merkle.inclusion_proof(tree, *random_inclusion())

            def consistency_sizes() -> tuple[int, int]:
                first = rng.randint(1, n)
                return first, rng.randint(first, n)

            def stored_consistency() -> object:
                return store.consistency(*consistency_sizes())

            def memory_consistency() -> object:
                return merkle.consistency_proof(tree, *consistency_sizes())

            cases["inclusion proof"] = (stored_inclusion, memory_inclusion)
            cases["consistency proof"] = (stored_consistency, memory_consistency)
            print(f"built {n} events in {built:.1f} s; load {os.getloadavg()[0]:.2f}")
            print("| proof | stored p50 ms | stored p99 ms | in memory p50 ms |")
            print("| --- | --- | --- | --- |")
            for name, (stored, memory) in cases.items():
                timed(stored, 50)  # warm the page cache and the statement cache
                on_disk = timed(stored, args.proofs)
                in_memory = timed(memory, args.proofs)
                print(
                    f"| {name} | {statistics.median(on_disk):.3f} | "
                    f"{statistics.quantiles(on_disk, n=100)[98]:.3f} | "
                    f"{statistics.median(in_memory):.3f} |"
                )
        databases.dispose()


if __name__ == "__main__":
    main()
