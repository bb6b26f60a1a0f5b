"""How a service's audit outbox hands operator events to the operator log.

Kept apart from `operator_log`: a service that imports this module appends to the operator log,
and the policy check holds it to an allowlist entry for that call; the audit service and the
operator CLI, which only read the log, import `operator_log` alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tenantry.platform.audit.operator_log import operator_log_region
from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import Topology


def delivery_to_operator_log(
    client: ServiceClient, topology: Topology
) -> Callable[[list[dict[str, Any]]], Awaitable[None]]:
    """What an outbox delivers operator events with: a batch at a time, posted to the
    operator log in its region."""
    region = operator_log_region(topology)

    async def deliver(events: list[dict[str, Any]]) -> None:
        answer = await client.call(
            "audit",
            "POST",
            "/internal/audit/operator/events",
            json={"events": events},
            region=region,
        )
        if answer.status != 201:
            raise ApiError(503, "audit_refused", f"the operator log answered {answer.status}")

    return deliver
