"""When `up` runs the daily restore drill: after the day's full-backup time, once a day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tenantry.cli.backup_schedule import DailyDrill
from tenantry.cli.datadir import DataDir
from tenantry.platform.topology import load_topology
from tenantry.services.backup.layout import RegionLayout, regions_of


def _finished(root: Path, when: datetime) -> None:
    topology = load_topology()
    for region in regions_of(topology):
        path = RegionLayout(root, topology, region).drill_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"finished_at": when.isoformat(), "ok": True}))


def test_the_drill_is_due_once_a_day_after_the_full_backup_time(tmp_path: Path) -> None:
    drill = DailyDrill(DataDir.at(tmp_path), load_topology())  # full_backup_time 02:00
    after = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    assert drill._due(after)  # never drilled
    _finished(tmp_path, after - timedelta(minutes=30))
    assert not drill._due(after)  # drilled today, after 02:00
    assert not drill._due(after + timedelta(hours=20))  # 23:00: tomorrow's is not due yet
    assert drill._due(after + timedelta(days=1))  # 03:00 the next day
    _finished(tmp_path, datetime(2026, 12, 4, 1, 0, tzinfo=UTC))
    assert drill._due(after)  # the last drill finished before today's 02:00
