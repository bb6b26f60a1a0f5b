"""How the edge's listener treats slow or greedy clients, from the topology's `[edge.limits]`."""

from __future__ import annotations

from tenantry.platform.guarded_http import HttpGuards
from tenantry.platform.topology import EdgeLimits
from tenantry.services.edge.security_headers import SECURITY_HEADERS


def edge_guards(limits: EdgeLimits) -> HttpGuards:
    """The guards of the public listener: its deadlines, its per-address cap, its headers."""
    return HttpGuards(
        head_seconds=limits.head_timeout,
        body_stall_seconds=limits.body_timeout,
        connections_per_client=limits.connections_per_client or None,
        answer_headers=SECURITY_HEADERS,
    )
