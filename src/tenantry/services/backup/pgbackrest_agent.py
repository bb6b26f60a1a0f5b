"""The backup service's work on PostgreSQL: pgBackRest made ready for the servers the region
protects, its scheduled backups, and the region's media blobs copied beside.

At start (and again every few minutes while anything is missing) it writes pgBackRest's
configuration, creates the stanzas and runs `pgbackrest check` (`prepare`). tenantry does not run
the PostgreSQL servers, so it never changes their settings: it writes the settings each server
needs (`<home>/<stanza>.postgresql.conf`, for its operator to include) and `backup status`
names what is missing until they are set. Once every server checks out, the archiver ships WAL
continuously (the servers' own `archive_command`), and this agent takes a full backup every day
once `[backup] full_backup_time` has passed (and at once when there is none), and an
incremental one every `INCREMENTAL_EVERY_SECONDS` between.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from tenantry.platform.files import write_atomically
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.pgbackrest import BackupError, PgBackRestEngine
from tenantry.services.backup.engines.pgbackrest.cloud import (
    open_to_server_user,
    owned_engine,
    places_of,
    server_settings_file,
)
from tenantry.services.backup.engines.pgbackrest.command import CommandError
from tenantry.services.backup.layout import RegionLayout
from tenantry.services.backup.media_copy import MediaCopier
from tenantry.services.backup.sealed_files import make_private_dirs

log = structlog.get_logger("tenantry.backup")

INCREMENTAL_EVERY_SECONDS = 3600.0
"""WAL reaches the repositories continuously (at least every `archive_timeout`); an hourly
incremental backup bounds how much of it a restore must replay."""
PREPARE_RETRY_SECONDS = 300.0
"""While a server is missing settings or does not answer, how often it is looked at again."""
BACKUP_RETRY_SECONDS = 300.0
"""After a failed backup, how long before the next attempt."""


def due_backup(
    now: datetime,
    full_minutes: int,
    repositories: int,
    fulls: dict[int, datetime],
    newest: dict[int, datetime],
) -> str | None:
    """Which backup is due now: `full` when a repository has none since today's
    `full_backup_time` (or yesterday's, before it), `incr` when one has had none for
    `INCREMENTAL_EVERY_SECONDS`, else None. `fulls` and `newest` are by repository."""
    today = now.replace(hour=full_minutes // 60, minute=full_minutes % 60, second=0, microsecond=0)
    due = today if now >= today else today - timedelta(days=1)
    if len(fulls) < repositories or min(fulls.values()) < due:
        return "full"
    if min(newest.values()) <= now - timedelta(seconds=INCREMENTAL_EVERY_SECONDS):
        return "incr"
    return None


class PgBackRestAgent:
    """Keeps the PostgreSQL servers one region protects backed up, and its media copied."""

    def __init__(self, data_dir: Path, topology: Topology, region: str) -> None:
        self._data_dir = data_dir
        self._topology = topology
        self._region = region
        self._layout = RegionLayout(data_dir, topology, region)
        self._engine: PgBackRestEngine | None = None
        self._ready = False
        self._prepared_at: float | None = None
        self._failed_at: float | None = None
        self._media = MediaCopier()

    @property
    def protects_servers(self) -> bool:
        """True when the region protects at least one server (so needs its passphrase)."""
        return owned_engine(self._data_dir, self._topology, self._region, None) is not None

    def set_passphrase(self, passphrase: str) -> None:
        """Build the engine with the region's repository passphrase (from kms)."""
        self._engine = owned_engine(self._data_dir, self._topology, self._region, passphrase)

    def step(self) -> None:
        """Prepare the servers when due, then take the backup that is due, if any."""
        engine = self._engine
        if engine is None:
            return
        now = time.monotonic()
        if not self._ready and (
            self._prepared_at is None or now - self._prepared_at >= PREPARE_RETRY_SECONDS
        ):
            self._prepared_at = now
            self._ready = self._prepare(engine)
        if not self._ready:
            return
        if self._failed_at is not None and now - self._failed_at < BACKUP_RETRY_SECONDS:
            return
        try:
            self._back_up_when_due(engine)
        except (BackupError, CommandError) as exc:
            self._failed_at = now
            self._ready = False  # a server may have lost a setting: check again first
            log.warning("pgbackrest_backup_failed", region=self._region, error=str(exc))
        else:
            self._failed_at = None

    def _prepare(self, engine: PgBackRestEngine) -> bool:
        try:
            for place in places_of(engine):
                make_private_dirs(place)  # before pgBackRest's own make them open to all
            engine.write_configuration()  # learns who owns each server's files
            open_to_server_user(engine, self._data_dir)
            problems = engine.prepare()
        except (OSError, ValueError, CommandError) as exc:
            log.warning("pgbackrest_not_prepared", region=self._region, error=str(exc))
            return False
        for stanza in engine.stanzas:
            wanted = engine.server_settings(stanza.name)
            text = "".join(
                f"{name} = '{value.replace(chr(39), chr(39) * 2)}'\n"
                for name, value in wanted.items()
            )
            path = server_settings_file(self._data_dir, self._region, stanza.name)
            write_atomically(path, text.encode(), 0o644)
        missing = {name: found for name, found in problems.items() if found}
        for name, found in missing.items():
            log.warning("pgbackrest_server_unprotected", stanza=name, problems=found)
        if not missing:
            log.info("pgbackrest_ready", region=self._region, stanzas=len(engine.stanzas))
        return not missing

    def _back_up_when_due(self, engine: PgBackRestEngine) -> None:
        fulls: dict[int, datetime] = {}
        newest: dict[int, datetime] = {}
        for record in engine.backups():
            key = record.repo_key
            newest[key] = max(newest.get(key, record.stopped), record.stopped)
            if record.kind == "full":
                fulls[key] = max(fulls.get(key, record.stopped), record.stopped)
        kind = due_backup(
            datetime.now(UTC),
            self._topology.backup.full_backup_minutes,
            len(engine.settings.repositories),
            fulls,
            newest,
        )
        if kind is None:
            return
        log.info("pgbackrest_backup_started", region=self._region, kind=kind)
        engine.back_up(kind, lambda _what, _done, _total: None)
        log.info("pgbackrest_backup_taken", region=self._region, kind=kind)

    def copy_media(self) -> int:
        """Copy the region's new media blobs into both repositories; the files written."""
        store = self._layout.media_store
        if store is None or not store.is_dir():
            return 0
        written = 0
        for repository in self._layout.repositories:
            try:
                written += self._media.ship(store, repository)
            except OSError as exc:
                log.warning("backup_repository_failed", repository=repository.name, error=str(exc))
        return written
