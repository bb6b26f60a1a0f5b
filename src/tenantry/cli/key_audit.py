"""`tenantry keys audit`: the key events each region's kms recorded, read from its log.

kms writes every key event as one JSON line with `"event": "audit"` to its process log
(`DATA_DIR/logs/kms-<region>.log`, appended across restarts). This reads them back, every
region's merged into one list, oldest first; it works whether or not the cloud is running.
The lines hold tenants, versions, owners and key refs, never key bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tenantry.cli.datadir import DataDir
from tenantry.cli.plan import process_name

AUDIT_EVENT = "audit"
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
