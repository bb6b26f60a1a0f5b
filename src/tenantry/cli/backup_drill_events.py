"""A restore drill in the audit log of every site it vouches for.

A drill restores whole databases, one per service and shard, so what it proves holds for every
site homed on a drilled shard: each site of the region gets one `backup_verified` event naming
its shard, whether every restore of that shard passed, and how many were checked. An event per
site rather than one for the region, because each site's log is the only one its customer can
read and verify. The drill itself changes nothing a service stores; its event is its record,
appended through the region's audit service as the operator's. A drill that cannot be recorded
(the cloud not running) is reported as a failure of the command, its result kept as ever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantry.cli.backup import BackupCommandError
from tenantry.cli.backup_drill import DrillResult
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, OPERATOR, run_as_operator
from tenantry.cli.site_calls import OperatorCallFailed, answer, site_context
from tenantry.platform.audit.events import Actor, AuditEvent
from tenantry.platform.client import ServiceClient

GONE = frozenset({"purged", "purging"})
"""Sites with no log left to write to: their keys are destroyed."""
RECORD_TIMEOUT_SECONDS = 30.0


def record_drill(data_dir: Path, result: DrillResult) -> int:
    """Append the drill's event to the log of every site of its region; how many were."""
    try:
        return run_as_operator(
            data_dir, lambda client: _record(client, result), RECORD_TIMEOUT_SECONDS
        )
    except OperatorCallFailed as exc:
        raise BackupCommandError(f"{result.region}: the drill was not recorded: {exc}") from None
    except CLOUD_NOT_REACHABLE as exc:
        raise BackupCommandError(
            f"{result.region}: the drill was not recorded in the sites' audit logs "
            f"(is the cloud running?): {exc}"
        ) from None


async def _record(client: ServiceClient, result: DrillResult) -> int:
    recorded = 0
    for site in await _sites(client, result.region):
        tenant = await site_context(client, str(site["site"]))
        event = AuditEvent(
            "backup_verified",
            f"backups/{site['shard']}",
            Actor("operator", OPERATOR),
            detail=shard_detail(result, str(site["shard"])),
        )
        answer_ = await client.call(
            "audit",
            "POST",
            "/internal/audit/events",
            json={"events": [event.wire()]},
            **tenant.call_args(),
        )
        if answer_.status != 201:
            answer(answer_, f"recording the drill for {site['site']}")
        recorded += 1
    return recorded


def shard_detail(result: DrillResult, shard: str) -> dict[str, Any]:
    """What the drill found for one shard of its region (the lines name `region:shard/...`)."""
    prefix = f"{result.region}:{shard}/"
    checked = [line for line in result.checked if line.startswith(prefix)]
    failed = [line for line in result.failures if line.startswith(prefix)]
    return {
        "region": result.region,
        "shard": shard,
        "ok": bool(checked) and not failed,
        "restores_checked": len(checked),
        "failures": len(failed),
    }


async def _sites(client: ServiceClient, region: str) -> list[dict[str, Any]]:
    """Every site of the catalog homed in `region` that still has keys."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"cursor": cursor} if cursor is not None else {}
        page = answer(
            await client.call("tcs", "GET", "/internal/tcs/tenants", query=query), "site list"
        )
        found += [
            row
            for row in page["tenants"]
            if row["region"] == region and str(row["status"]) not in GONE
        ]
        cursor = page.get("next_cursor")
        if cursor is None:
            return found
