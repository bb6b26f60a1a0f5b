"""The operator log: a tamper-evident audit log that belongs to no tenant, for the cloud's own
events (the transparency register's changes; region-level key events can follow).

It is a tree of the audit service like any tenant's (RFC 9162 leaves and nodes, signed
checkpoints, inclusion and consistency proofs), kept under a reserved log id on the first
shard of the topology's default region. The id is not a cloud id (those are UUIDs) and no
tenant context ever names it, so no tenant route reaches it: it is read and appended only
through `/internal/audit/operator/...`, which the allowlist opens to the operator CLI (reads)
and to the services that record operator events (appends).
"""

from __future__ import annotations

from tenantry.platform.context import TenantContext
from tenantry.platform.topology import Topology

OPERATOR_LOG_ID = "operator"
"""The log id of the operator log: where a tenant's log has its cloud id."""


def operator_log_region(topology: Topology) -> str:
    """The region whose audit service keeps the operator log."""
    return topology.default_region


def operator_log_context(topology: Topology) -> TenantContext:
    """The scope the audit service appends to and reads the operator log in."""
    region = operator_log_region(topology)
    shard = topology.regions[region].shards[0].name
    return TenantContext(OPERATOR_LOG_ID, "", region, shard, "active")
