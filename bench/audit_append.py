"""What writing an audit event in the same transaction costs a change, against the same change
without its event, measured in the same run.

The write is identity's role change (`PATCH /rest/identity/accounts/{id}` with a new role), as
its handler does it: one tenant session on identity's database reads the account, checks the site
keeps an admin, changes the role, adds the kms notices and the account change the edges follow,
and (audited) the `account_role_changed` event through the real `AuditOutbox.record`, then
commits. "bare" runs the very same steps with an outbox that records nothing, so the difference
is the event alone: building it (its checks included), its JSON and its row in the transaction.

Pairs: each round runs N audited and N bare writes, interleaved one by one, so both see the same
machine; the figure is the median over rounds of each round's ratio. Wall time per write
includes the commit (SQLite, WAL, `synchronous` as the service runs it); CPU time is the
process's. Goal: at most 5 % extra.

Run: `.venv/bin/python bench/audit_append.py [--writes N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.users import ADMIN, MEMBER
from tenantry.services.identity import store
from tenantry.services.identity.account_changes import AccountChanges
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import SCHEMA, AuditOutboxRow

TENANT = TenantContext("bench-tenant", "bench", "global", GLOBAL_SHARD, "active")
_KEY = DataKey(1, os.urandom(32))
KEYS = TenantKeys(_KEY, {1: _KEY})
REGIONS = ("us", "eu", "au")


class _NoOutbox:
    """An outbox that records nothing: the bare write."""

    def record(self, session: TenantSession, event: AuditEvent) -> None:
        del session, event


async def _no_contexts(cloud_id: str) -> Any:
    raise AssertionError(f"nothing is delivered here ({cloud_id})")


def role_change(
    databases: Databases, account_id: str, audited: bool, outbox: AuditOutbox
) -> Callable[[], None]:
    """One role change of `account_id` (flipping admin and member), as identity's handler
    makes it; `audited` says whether its event is recorded."""
    changes = AccountChanges(databases)
    notices = KmsNotices(databases, ServiceClient.__new__(ServiceClient), REGIONS)
    audit: AuditOutbox | _NoOutbox = outbox if audited else _NoOutbox()

    def record(session: TenantSession, action: str, target: str, **detail: Any) -> None:
        audit.record(session, AuditEvent(action, target, current_actor("identity"), detail=detail))

    def write() -> None:
        with databases.global_session() as session:
            account = store.get(session, account_id)
            role = MEMBER if account.role == ADMIN else ADMIN
            store.keep_an_admin(session, account)
            record(session, "account_role_changed", account_id, old=account.role, new=role)
            account.role = role
            notices.record(session, account_id, "role_changed", role)
            changes.record(session, account_id)

    return write


def _timed(write: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    write()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Measure audited and bare role changes in interleaved rounds and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=2000, help="writes of each per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, tenant_scope(TENANT):
        databases = Databases(SCHEMA, SqliteBackend(Path(tmp) / "data"))
        try:
            with databases.global_session() as session:
                store.add(session, KEYS, "first@bench.test", "x", ADMIN)
                ids = [
                    store.add(session, KEYS, f"{name}@bench.test", "x", ADMIN).account_id
                    for name in ("audited", "bare")
                ]
            client = ServiceClient.__new__(ServiceClient)
            outbox = AuditOutbox(
                AuditOutboxRow, databases.engine_for, [GLOBAL_SHARD], client, _no_contexts
            )
            writes = {
                "audited": role_change(databases, ids[0], True, outbox),
                "bare": role_change(databases, ids[1], False, outbox),
            }
            for _ in range(max(args.writes // 10, 50)):  # warm caches, pools, page cache
                for write in writes.values():
                    write()
            rounds: list[dict[str, tuple[float, float]]] = []
            for number in range(args.rounds):
                totals = {name: [0.0, 0.0] for name in writes}
                # Odd rounds run bare first, so neither side always follows the other.
                order = list(writes.items())[:: -1 if number % 2 else 1]
                for _ in range(args.writes):
                    for name, write in order:
                        wall, cpu = _timed(write)
                        totals[name][0] += wall
                        totals[name][1] += cpu
                rounds.append({name: (w, c) for name, (w, c) in totals.items()})
        finally:
            databases.dispose()

    per_write = 1000 / args.writes
    print(f"role change: {args.rounds} rounds x {args.writes} writes of each, interleaved")
    for kind, at in (("wall", 0), ("CPU", 1)):
        ratios = [r["audited"][at] / r["bare"][at] for r in rounds]
        audited = statistics.median(r["audited"][at] * per_write for r in rounds)
        bare = statistics.median(r["bare"][at] * per_write for r in rounds)
        print(
            f"  {kind:4s} ms per write: audited {audited:.3f}, bare {bare:.3f};"
            f" audited/bare median {statistics.median(ratios):.3f}"
            f" ({', '.join(f'{x:.3f}' for x in ratios)})"
        )


if __name__ == "__main__":
    main()
