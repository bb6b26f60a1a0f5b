"""Every SQL statement of the audit service: append entries, read them, prove them, sign trees.

A tenant's entries, nodes and checkpoints are reached only through its tenant session. An
append adds the entry, the nodes it completes and the tree's new size in one transaction, so the
tree and its entries can never disagree by accident; only tampering makes them disagree.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select

from tenantry.platform.audit import merkle
from tenantry.platform.audit.events import canonical, entry
from tenantry.platform.audit.note import Checkpoint
from tenantry.platform.context import TenantContext, require_tenant, tenant_scope
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditNode,
    AuditTree,
    node_key,
    node_of,
)

_T = TypeVar("_T")
Signer = Callable[[Checkpoint], str]
"""Signs a checkpoint, returning its signed note."""


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as served: its size and note."""

    size: int
    note: str


class _SessionNodes:
    """The nodes of the session's tenant, with those of the append under way first."""

    def __init__(self, session: TenantSession) -> None:
        self._session = session
        self.pending: dict[merkle.Node, bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        found = self.pending.get((level, index))
        if found is not None:
            return found
        row = self._session.get(AuditNode, (require_tenant().cloud_id, node_key(level, index)))
        if row is None:
            raise LookupError(f"audit node ({level}, {index}) is missing")
        return row.hash


def origin(region: str, cloud_id: str) -> str:
    """The origin line of a tenant's checkpoints: its log's name, unique in the cloud."""
    return f"tenantry/audit/{region}/{cloud_id}"


class AuditStore:
    """The region's audit logs, one per tenant."""

    def __init__(
        self,
        databases: Databases,
        region: str,
        shards: Sequence[str],
        signer: Signer,
        on_grown: Callable[[], None] = lambda: None,
    ) -> None:
        self._databases = databases
        self._region = region
        self._shards = tuple(shards)
        self._sign = signer
        self._on_grown = on_grown
        # One append at a time per process keeps each tree's sizes in order on every backend.
        self._append_lock = threading.Lock()
        self._grown_at: float | None = None
        """When a tree first grew (monotonic) since the last signing pass; None if none did."""

    def append(self, events: Sequence[dict[str, Any]]) -> list[int]:
        """Add events (as `AuditEvent.wire` gives them) to the tenant's log; each one's leaf
        index. An event already in the log (a redelivery) keeps its first index."""
        tenant = require_tenant().cloud_id
        with self._append_lock, self._databases.session() as session:
            tree = session.get(AuditTree, tenant, with_for_update=True)
            if tree is None:
                tree = AuditTree(cloud_id=tenant, size=0, signed_size=0)
                session.add(tree)
            size_before = tree.size
            known = self._known(session, [str(event["id"]) for event in events])
            nodes = _SessionNodes(session)
            indexes: list[int] = []
            for event in events:
                event_id = str(event["id"])
                if event_id in known:
                    indexes.append(known[event_id])
                    continue
                text = canonical(entry(tenant, event))
                index = tree.size
                session.add(
                    AuditEntry(
                        leaf_index=index,
                        event_id=event_id,
                        action=str(event["action"]),
                        entry=text,
                    )
                )
                for level, node_index, digest in merkle.new_nodes(
                    index, merkle.leaf_hash(text.encode()), nodes
                ):
                    nodes.pending[(level, node_index)] = digest
                    session.add(AuditNode(node_key=node_key(level, node_index), hash=digest))
                known[event_id] = index
                indexes.append(index)
                tree.size = index + 1
            grew = tree.size > size_before
        if grew:
            if self._grown_at is None:
                self._grown_at = time.monotonic()
            self._on_grown()
        return indexes

    def size(self) -> int:
        """How many entries the tenant's log holds."""
        with self._databases.session() as session:
            tree = session.get(AuditTree, require_tenant().cloud_id)
            return 0 if tree is None else tree.size

    def entries(self, after: int, limit: int) -> tuple[list[tuple[int, str]], int]:
        """Up to `limit` entries after leaf index `after`, oldest first, and the log's size."""
        with self._databases.session() as session:
            tree = session.get(AuditTree, require_tenant().cloud_id)
            rows = session.execute(
                select(AuditEntry.leaf_index, AuditEntry.entry)
                .where(AuditEntry.leaf_index > after)
                .order_by(AuditEntry.leaf_index)
                .limit(limit)
            ).all()
        return [(row.leaf_index, row.entry) for row in rows], (0 if tree is None else tree.size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of entry `index` in the tree of `size` entries."""
        return self._prove(lambda nodes: merkle.inclusion_proof(nodes, index, size))

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from the tree of `first` entries to that of `second`."""
        return self._prove(lambda nodes: merkle.consistency_proof(nodes, first, second))

    def root(self, size: int) -> bytes:
        """The root hash of the tenant's tree when it held `size` entries."""
        return self._prove(lambda nodes: merkle.root_hash(nodes, size))

    def _prove(self, compute: Callable[[merkle.NodeSource], _T]) -> _T:
        wanted = merkle.nodes_read(compute)
        with self._databases.session() as session:
            fetched = _fetch(session, wanted)
        return compute(merkle.FetchedNodes(fetched))

    def checkpoint(self) -> StoredCheckpoint | None:
        """The tenant's latest signed checkpoint, signed now if the tree grew since the last
        (None for a tenant with an empty log)."""
        tenant = require_tenant().cloud_id
        with self._databases.session() as session:
            tree = session.get(AuditTree, tenant)
            if tree is None:
                return None
            if tree.size > tree.signed_size:
                return self._sign_tree(session, tree)
            row = session.get(AuditCheckpoint, (tenant, tree.signed_size))
        if row is None:
            return None
        return StoredCheckpoint(size=row.tree_size, note=row.note)

    def signing_due_in(self, pause: float) -> float | None:
        """Seconds until the first tree grown since the last signing pass is `pause` old;
        None if none grew in this process (one may have grown before it started)."""
        grown_at = self._grown_at
        return None if grown_at is None else grown_at + pause - time.monotonic()

    def sign_grown(self) -> int:
        """Sign the tree of every tenant on this region's shards that grew since its last
        checkpoint; how many were signed."""
        self._grown_at = None
        signed = 0
        for shard in self._shards:
            with self._databases.engine_for(shard).connect() as connection:
                grown = connection.execute(
                    select(AuditTree.cloud_id).where(AuditTree.size > AuditTree.signed_size)
                ).all()
            for (cloud_id,) in grown:
                tenant = TenantContext(cloud_id, "", self._region, shard, "active")
                with tenant_scope(tenant):
                    self.checkpoint()
                signed += 1
        return signed

    def _sign_tree(self, session: TenantSession, tree: AuditTree) -> StoredCheckpoint:
        size = tree.size
        wanted = merkle.nodes_read(lambda nodes: merkle.root_hash(nodes, size))
        root = merkle.root_hash(merkle.FetchedNodes(_fetch(session, wanted)), size)
        now = time.time()
        note = self._sign(Checkpoint(origin(self._region, tree.cloud_id), size, root, int(now)))
        session.add(AuditCheckpoint(tree_size=size, signed_at=now, note=note))
        tree.signed_size = size
        return StoredCheckpoint(size=size, note=note)

    @staticmethod
    def _known(session: TenantSession, event_ids: Iterable[str]) -> dict[str, int]:
        rows = session.execute(
            select(AuditEntry.event_id, AuditEntry.leaf_index).where(
                AuditEntry.event_id.in_(list(event_ids))
            )
        ).all()
        return {row.event_id: row.leaf_index for row in rows}


def _fetch(session: TenantSession, wanted: set[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The hashes of `wanted` nodes, in one lookup by primary key."""
    if not wanted:
        return {}
    keys = sorted(node_key(level, index) for level, index in wanted)
    rows = session.execute(
        select(AuditNode.node_key, AuditNode.hash).where(AuditNode.node_key.in_(keys))
    ).all()
    return {node_of(row.node_key): row.hash for row in rows}
