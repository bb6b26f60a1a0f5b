"""What sealing fields costs: per-field p50, its share of an issue's storage work, bulk resealing.

Three measurements, each beside its own baseline in the same run, in CPU time
(`time.process_time`) so the ratios hold on a shared, noisy machine:
- per field: `encrypt_field` and `decrypt_field` of a 200-byte value, p50 of single calls;
- share: the issues store's create + read pair (bench/storage.py's `tenantry` pair, which seals
  summary and description and opens them again) against the same pair's crypto calls alone;
  what is left when sealing is taken out is the "encryption off" figure (goal: on/off >= 0.9x);
- bulk resealing, as a data-key rotation does it: `reseal_fields` (what the issues service's
  reseal batches call) opens each value under version 1 and seals it under version 2, bound to
  its cell, against raw `AESGCM` doing one decrypt and one encrypt per value of the same
  plaintexts with the same associated data bytes, under a fresh `os.urandom` nonce per encrypt
  (goal: >= 0.5x of raw). Rounds alternate the two; the ratio is the median of the rounds'
  ratios. The one-value path (`decrypt_field` then `encrypt_field`) is shown for comparison.

Run: `.venv/bin/python bench/field_crypto.py [--values N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.platform.context import tenant_scope
from tenantry.platform.crypto import (
    DataKey,
    FieldColumn,
    decrypt_field,
    encrypt_field,
    reseal_fields,
)
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.services.issues import store
from tenantry.services.issues.models import SCHEMA

sys.path.insert(0, str(Path(__file__).parent))
from storage import TENANT, _tenantry_pair, tenant_keys

V1 = DataKey(1, os.urandom(32))
V2 = DataKey(2, os.urandom(32))
KEYS = {1: V1, 2: V2}.__getitem__
VALUE = os.urandom(100).hex().encode()  # 200 bytes
CELL = {"tenant_id": TENANT.cloud_id, "table": "issues", "column": "description"}
COLUMN = FieldColumn(TENANT.cloud_id, "issues", "description")


def _p50_us(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1000


def _cpu_s(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def per_field(calls: int) -> tuple[float, float]:
    """p50 µs of one encrypt and one decrypt of a 200-byte value."""
    sealed = encrypt_field(V1, VALUE, row="row-1", **CELL)
    enc = _p50_us(lambda: encrypt_field(V1, VALUE, row="row-1", **CELL), calls)
    dec = _p50_us(lambda: decrypt_field(KEYS, sealed, row="row-1", **CELL), calls)
    return enc, dec


def crypto_of_a_pair() -> None:
    """The field crypto an issue create + read does: seal summary and description, open both."""
    summary = encrypt_field(V1, b"benchmark issue", row="r", **CELL)
    description = encrypt_field(V1, b"created by bench/storage.py", row="r", **CELL)
    decrypt_field(KEYS, summary, row="r", **CELL)
    decrypt_field(KEYS, description, row="r", **CELL)


def reseal_bulk(cells: list[tuple[str, bytes]]) -> None:
    """The real path: one column's batch resealed from version 1 to 2 by `reseal_fields`."""
    reseal_fields(KEYS, V2, COLUMN, cells)


def reseal_one_by_one(cells: list[tuple[str, bytes]]) -> None:
    """The same work through the one-value functions, as resealing did before the bulk path."""
    for row, value in cells:
        encrypt_field(V2, decrypt_field(KEYS, value, row=row, **CELL), row=row, **CELL)


def raw_all(sealed: list[tuple[bytes, bytes, bytes]]) -> None:
    """The floor: one AESGCM decrypt and one encrypt (under a fresh nonce, as GCM needs) each."""
    old, new = AESGCM(V1.material), AESGCM(V2.material)
    for nonce, value, aad in sealed:
        new.encrypt(os.urandom(12), old.decrypt(nonce, value, aad), aad)


def bulk(values: int, rounds: int) -> None:
    """Reseal `values` 500-byte values, alternating with the raw floor, and print the ratio."""
    plain = [os.urandom(500) for _ in range(values)]
    cells = [(f"row-{n}", COLUMN.seal(V1, value, f"row-{n}")) for n, value in enumerate(plain)]
    raw_sealed = []
    for (row, _), value in zip(cells, plain, strict=True):
        nonce, aad = os.urandom(12), b"\x01\x00\x00\x00\x01" + COLUMN.context(row)
        raw_sealed.append((nonce, AESGCM(V1.material).encrypt(nonce, value, aad), aad))
    ours, floor, ratios, single = [], [], [], []
    for _ in range(rounds):
        ours.append(_cpu_s(lambda: reseal_bulk(cells)))
        floor.append(_cpu_s(lambda: raw_all(raw_sealed)))
        ratios.append(floor[-1] / ours[-1])
        single.append(_cpu_s(lambda: reseal_one_by_one(cells)))
    ours_rate = values / statistics.median(ours)
    floor_rate = values / statistics.median(floor)
    single_rate = values / statistics.median(single)
    print(
        f"bulk reseal of {values} x 500 bytes (reseal_fields): {ours_rate:,.0f} values/s, raw "
        f"AESGCM {floor_rate:,.0f} values/s: {statistics.median(ratios):.2f}x (goal >= 0.5x; "
        f"rounds {min(ratios):.2f}-{max(ratios):.2f}x); one value at a time "
        f"{single_rate:,.0f} values/s ({single_rate / floor_rate:.2f}x)"
    )


def main() -> None:
    """Run the three measurements and print them with their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=20000, help="values resealed per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds of each measurement")
    parser.add_argument("--pairs", type=int, default=2000, help="issue pairs per round")
    args = parser.parse_args()

    enc, dec = per_field(50000)
    print(f"per field (200 bytes): encrypt p50 {enc:.2f} µs, decrypt p50 {dec:.2f} µs")

    with tempfile.TemporaryDirectory() as tmp, tenant_scope(TENANT):
        databases = Databases(SCHEMA, SqliteBackend(Path(tmp) / "data"))
        try:
            with databases.session() as session:
                store.create_project(session, tenant_keys(), "BEN", "Benchmark")
            pair = _tenantry_pair(databases, [])
            for _ in range(200):
                pair()
            pair_ms, crypto_ms = [], []
            for _ in range(args.rounds):
                pair_ms.append(_cpu_s(lambda: [pair() for _ in range(args.pairs)]) * 1000)
                crypto_ms.append(
                    _cpu_s(lambda: [crypto_of_a_pair() for _ in range(args.pairs)]) * 1000
                )
        finally:
            databases.dispose()
    on = statistics.median(pair_ms) / args.pairs
    sealing = statistics.median(crypto_ms) / args.pairs
    off = on - sealing
    print(
        f"issue create+read in storage: {on * 1000:.0f} µs CPU with sealing, of which sealing "
        f"{sealing * 1000:.0f} µs; on/off throughput {off / on:.3f}x (goal >= 0.9x)"
    )

    bulk(args.values, args.rounds)


if __name__ == "__main__":
    main()
