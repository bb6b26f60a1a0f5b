"""The operator log: a tamper-evident audit log that belongs to no tenant, for the cloud's own
events (the transparency register's changes; region-level key events can follow).

Each region's audit service keeps one, a tree like any tenant's (RFC 9162 leaves and nodes,
signed checkpoints, inclusion and consistency proofs) under a reserved log id on the region's
first shard. The id is not a cloud id (those are UUIDs) and no tenant context ever names it,
so no tenant route reaches it: it is read and appended only through
`/internal/audit/operator/...`, which the allowlist opens to the operator CLI (reads) and to
the services that record operator events (appends). Global services (the register at tcs)
record in the default region's.
"""

from __future__ import annotations

from tenantry.platform.context import TenantContext
from tenantry.platform.topology import Topology

OPERATOR_LOG_ID = "operator"
"""The log id of the operator log: where a tenant's log has its cloud id."""


def operator_log_region(topology: Topology) -> str:
    """The region whose operator log the global services record their events in."""
    return topology.default_region


def operator_log_context(topology: Topology, region: str) -> TenantContext:
    """The scope `region`'s audit service appends to and reads its operator log in."""
    shard = topology.regions[region].shards[0].name
    return TenantContext(OPERATOR_LOG_ID, "", region, shard, "active")
