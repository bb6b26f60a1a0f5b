"""`tenantry keys audit`: the key events kms recorded.

A site's key events (data keys made, rotated, retired, rewrapped, destroyed; its own key put to
use, revoked, restored, given up) are in the site's tamper-evident audit log, written in the
transaction of each change: `--site SITE` reads them from there, through the audit service.
kms also writes every key event, region-wide ones (root keys and their owners) included, as one
JSON line with `"event": "audit"` to its process log (`DATA_DIR/logs/kms-<region>.log`,
appended across restarts); without `--site` they are read back from there, every region's
merged into one list, oldest first, whether or not the cloud is running. Neither holds key
bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tenantry.cli.datadir import DataDir
from tenantry.cli.operator_calls import run_as_operator
from tenantry.cli.plan import process_name
from tenantry.cli.site_calls import answer, site_context
from tenantry.platform.audit.actions import KEYS, actions_of
from tenantry.platform.client import ServiceClient

AUDIT_EVENT = "audit"
EVENTS_PAGE = 1000
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_PLUMBING = frozenset({"event", "level", "timestamp", "service", "region", "action"})


def audit_logs(data_dir: Path, region: str | None) -> dict[str, Path]:
    """The kms log of `region`, or of every region that has one, by region."""
    logs = DataDir.at(data_dir).logs
    if region is not None:
        return {region: logs / f"{process_name('kms', region)}.log"}
    prefix = process_name("kms", "")
    return {path.stem.removeprefix(prefix): path for path in sorted(logs.glob(f"{prefix}*.log"))}


def audit_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every audit line of one kms log, parsed; other lines are skipped."""
    with path.open("rb") as log:
        for line in log:
            if b'"audit"' not in line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict) and entry.get("event") == AUDIT_EVENT:
                yield entry


def events_by_time(logs: dict[str, Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every audit event of these logs (by region) as (region, event), oldest first.

    Times are compared as instants, not as text (an ISO time written without its fraction
    would sort after the same second with one); an event without a readable time goes first.
    Events of the same instant keep their log's order.
    """
    found = [(region, entry) for region, path in logs.items() for entry in audit_events(path)]
    return sorted(found, key=lambda pair: _instant(pair[1]))


def _instant(entry: dict[str, Any]) -> datetime:
    stamp = entry.get("timestamp")
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return _EARLIEST
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def details(entry: dict[str, Any]) -> str:
    """An event's own fields as `name=value`, for the table."""
    return " ".join(
        f"{name}={orjson.dumps(value).decode()}"
        for name, value in entry.items()
        if name not in _PLUMBING
    )


KEY_ACTIONS = actions_of(KEYS)
"""The actions of a site's key events in its audit log."""


def site_key_events(data_dir: Path, site: str) -> list[dict[str, Any]]:
    """The key events of `site`, oldest first, from its tamper-evident audit log (each with
    its leaf index), through the audit service of the site's region."""
    return run_as_operator(data_dir, lambda client: _site_key_events(client, site), 30.0)


async def _site_key_events(client: ServiceClient, site: str) -> list[dict[str, Any]]:
    tenant = await site_context(client, site)
    found: list[dict[str, Any]] = []
    after = -1
    while True:
        page = answer(
            await client.call(
                "audit",
                "GET",
                "/internal/audit/events",
                query={"after": str(after), "limit": str(EVENTS_PAGE)},
                **tenant.call_args(),
            ),
            "audit",
        )
        events: list[dict[str, Any]] = page["events"]
        found.extend(event for event in events if event.get("action") in KEY_ACTIONS)
        if len(events) < EVENTS_PAGE:
            return found
        after = int(events[-1]["index"])
