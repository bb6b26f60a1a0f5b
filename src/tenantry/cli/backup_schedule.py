"""The daily restore drill `up` runs: `tenantry backup verify` once a day, in the background.

It runs once the day's `[backup] full_backup_time` (UTC) has passed and no drill has finished
since, but never in a cloud's first minutes (its backups are only starting). Its output goes to
`logs/backup-verify.log`; its result to each region's drill file, which `backup status` shows.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from tenantry.cli.datadir import DataDir
from tenantry.cli.scheduled_command import ScheduledCommand
from tenantry.platform.topology import Topology
from tenantry.services.backup.layout import RegionLayout, regions_of

SETTLE_SECONDS = 600.0


class DailyDrill(ScheduledCommand):
    """Starts the day's drill when it is due; at most one runs at a time."""

    def __init__(self, dirs: DataDir, topology: Topology) -> None:
        super().__init__(dirs, "backup-verify.log")
        self._topology = topology
        self._since = time.monotonic()

    def poll(self) -> None:
        """Start the drill if it is due and none is running (call from the supervisor loop)."""
        if self.running() or not self._topology.backup.enabled:
            return
        if time.monotonic() - self._since < SETTLE_SECONDS or not self._due(datetime.now(UTC)):
            return
        self.start("backup", "verify")

    def _due(self, now: datetime) -> bool:
        minutes = self._topology.backup.full_backup_minutes
        today = now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
        due = today if now >= today else today - timedelta(days=1)
        for region in regions_of(self._topology):
            layout = RegionLayout(self._dirs.root, self._topology, region)
            try:
                finished = datetime.fromisoformat(
                    json.loads(layout.drill_file.read_text())["finished_at"]
                )
            except (OSError, ValueError, KeyError):
                return True
            if finished < due:
                return True
        return False
