"""The backup service's work on SQLite: Litestream running over every database of the region,
and each file it writes sealed into both repositories, with the region's media blobs beside.

One Litestream process per region replicates every database to its staging replica (about four
times a second); each step of the service's background loop seals what is new there into both
repositories. A repository that fails (unwritable, unmounted) is noted in the agent's state file,
which `backup status` reads, and the other keeps receiving. The step also takes the daily full
backup at `[backup] full_backup_time` and drops what is older than `retention_days`.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from tenantry.platform.child_process import end
from tenantry.platform.crypto import DataKey
from tenantry.platform.files import write_atomically
from tenantry.services.backup.engines.engine import Database
from tenantry.services.backup.engines.litestream import (
    LitestreamEngine,
    full_backups,
    generation_of,
    litestream_binary,
    litestream_env,
    place_of,
    sealed_files,
    sealed_name,
    staging_files,
)
from tenantry.services.backup.layout import Repository
from tenantry.services.backup.media_copy import MediaCopier
from tenantry.services.backup.sealed_files import make_private_dirs, seal_file

log = structlog.get_logger("tenantry.backup")

MONITOR_INTERVAL = "250ms"
SYNC_INTERVAL = "250ms"
MEDIA_EVERY_SECONDS = 2.0
"""How often the media store is looked over for new blobs (a walk of its whole tree)."""
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Run in the child before exec: Litestream gets SIGKILL if the service's process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class LitestreamAgent:
    """Keeps one region's databases replicated and sealed into both repositories."""

    def __init__(self, engines: list[LitestreamEngine], region: str, log_dir: Path) -> None:
        self._engines = engines
        self._region = region
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._watched: tuple[tuple[Database, Path], ...] = ()
        self._shipped: dict[Path, set[str]] = {}
        self._media = MediaCopier()
        self._errors: dict[str, dict[str, str]] = {}
        self._signatures: dict[Path, tuple[tuple[str, int], ...]] = {}
        self._media_checked = 0.0
        self._saved: dict[str, dict[str, str]] = {}

    def set_key(self, key: DataKey) -> None:
        """Hand every engine the region's backup key (from kms)."""
        for engine in self._engines:
            engine._key = key

    @property
    def config_file(self) -> Path:
        return self._engines[0].layout.staging / "litestream.yml"

    # -- the Litestream process -------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start Litestream over every database found, again when it died or the set changed."""
        watched = tuple(
            (database, engine.layout.staging_dir(database))
            for engine in self._engines
            for database in engine.layout.sqlite_databases()
        )
        alive = self._process is not None and self._process.poll() is None
        if alive and watched == self._watched:
            return
        if self._process is not None and self._process.poll() is None:
            self.stop()
        elif self._process is not None:
            log.warning("litestream_exited", region=self._region, code=self._process.returncode)
        self._watched = watched
        if not watched:
            return
        config = self._write_config(watched)
        make_private_dirs(self._log_dir)
        log_file = self._log_dir / f"litestream-{self._region}.log"
        descriptor = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "ab") as sink:
            self._process = subprocess.Popen(
                [str(litestream_binary()), "replicate", "-config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=litestream_env(),
                preexec_fn=_die_with_parent,
            )
        log.info("litestream_started", region=self._region, databases=len(watched))

    def _write_config(self, watched: tuple[tuple[Database, Path], ...]) -> Path:
        lines = ["dbs:"]
        for database, staging in watched:
            engine = next(e for e in self._engines if e.layout.staging_dir(database) == staging)
            make_private_dirs(staging)
            generation_of(staging)
            lines += [
                f"  - path: {json.dumps(str(engine.layout.sqlite_path(database)))}",
                f"    monitor-interval: {MONITOR_INTERVAL}",
                "    replica:",
                "      type: file",
                f"      path: {json.dumps(str(staging))}",
                f"      sync-interval: {SYNC_INTERVAL}",
            ]
        config = self.config_file
        make_private_dirs(config.parent)
        write_atomically(config, ("\n".join(lines) + "\n").encode(), 0o600)
        return config

    def stop(self) -> None:
        """Stop Litestream (SIGTERM lets it sync what it holds), waiting a little."""
        process, self._process = self._process, None
        end(process)

    # -- one pass ---------------------------------------------------------------------------

    def step(self) -> int:
        """Seal what is new into both repositories; the files written."""
        self.ensure_running()
        media_due = time.monotonic() - self._media_checked >= MEDIA_EVERY_SECONDS
        written = 0
        for engine in self._engines:
            changed = [
                (database, files)
                for database in engine.layout.sqlite_databases()
                if (files := self._changed_files(engine, database)) is not None
            ]
            for repository in engine.layout.repositories:
                try:
                    for database, files in changed:
                        written += self._ship_database(engine, repository, database, files)
                    store = engine.layout.media_store
                    if media_due and store is not None and store.is_dir():
                        written += self._media.ship(store, repository)
                except OSError as exc:
                    self._note(engine, repository, f"{exc.strerror or exc}")
                else:
                    self._note(engine, repository, None)
        if media_due:
            self._media_checked = time.monotonic()
        self._save_state()
        return written

    def _changed_files(
        self, engine: LitestreamEngine, database: Database
    ) -> list[tuple[int, str, int]] | None:
        """The files of a staging replica, or None when no level changed since the last step
        that shipped everything (so an idle database costs a few stat calls)."""
        staging = engine.layout.staging_dir(database)
        ltx = staging / "ltx"
        try:
            signature = tuple(
                sorted((p.name, p.stat().st_mtime_ns) for p in ltx.iterdir() if p.is_dir())
            )
        except FileNotFoundError:
            return None
        if self._signatures.get(staging) == signature and not self._errors.get(
            engine.layout.region
        ):
            return None
        self._signatures[staging] = signature
        return sorted(staging_files(staging))

    def _ship_database(
        self,
        engine: LitestreamEngine,
        repository: Repository,
        database: Database,
        files: list[tuple[int, str, int]],
    ) -> int:
        staging = engine.layout.staging_dir(database)
        generation = generation_of(staging)
        target_dir = repository.database_dir(database) / generation
        shipped = self._shipped.get(target_dir)
        if shipped is None:
            shipped = {
                f"{f.level}/{f.ltx_name}"
                for f in sealed_files(repository, database)
                if f.generation == generation
            }
            self._shipped[target_dir] = shipped
        written = 0
        for level, name, created_ms in files:
            # Once per file: Litestream renames a file into place before it sets its time, so
            # the time seen can change once; the first one stands.
            if f"{level}/{name}" in shipped:
                continue
            relative = sealed_name(level, name, created_ms)
            try:
                seal_file(
                    engine.key,
                    staging / "ltx" / str(level) / name,
                    target_dir / relative,
                    place=place_of(engine.layout, database, generation),
                    name=relative,
                )
            except FileNotFoundError:
                continue  # Litestream pruned it meanwhile; a compacted file covers it
            shipped.add(f"{level}/{name}")
            written += 1
        return written

    def _note(self, engine: LitestreamEngine, repository: Repository, error: str | None) -> None:
        errors = self._errors.setdefault(engine.layout.region, {})
        if error is None:
            errors.pop(repository.name, None)
        else:
            if errors.get(repository.name) != error:
                log.warning("backup_repository_failed", repository=repository.name, error=error)
            errors[repository.name] = error
            # What was written there may be incomplete: read it afresh once it works again.
            self._shipped = {
                k: v for k, v in self._shipped.items() if not k.is_relative_to(repository.root)
            }

    def _save_state(self) -> None:
        """Write each region's repository errors for `backup status`, when they changed."""
        for engine in self._engines:
            errors = dict(self._errors.get(engine.layout.region, {}))
            if self._saved.get(engine.layout.region) == errors:
                continue
            document = {"errors": errors, "changed_at": datetime.now(UTC).isoformat()}
            try:
                write_atomically(
                    engine.layout.agent_state_file, json.dumps(document).encode(), 0o600
                )
            except OSError:
                continue
            self._saved[engine.layout.region] = errors

    # -- daily work -------------------------------------------------------------------------

    def full_backups_due(self, now: datetime) -> None:
        """Take today's full backup of every database once `full_backup_time` has passed."""
        for engine in self._engines:
            minutes = engine.layout.topology.backup.full_backup_minutes
            today = now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
            due = today if now >= today else today - timedelta(days=1)
            for database in engine.layout.sqlite_databases():
                taken = [
                    t
                    for repository in engine.layout.repositories
                    for t in full_backups(repository, database)
                ]
                if max(taken, default=None) is None or max(taken) < due:
                    engine.full_backup(database)
            prune(engine, now)


def prune(engine: LitestreamEngine, now: datetime) -> int:
    """Remove what is older than the retention, keeping every file a restore inside it needs:
    in each generation, a restore at the cutoff needs the newest snapshot before it and all
    that follows."""
    cutoff = now - timedelta(days=engine.layout.topology.backup.retention_days)
    removed = 0
    for repository in engine.layout.repositories:
        for database in engine.layout.backed_up_databases():
            files = sealed_files(repository, database)
            generations = sorted({f.generation for f in files})
            for generation in generations:
                mine = [f for f in files if f.generation == generation]
                newest = max(f.created for f in mine)
                if newest < cutoff and generation != generations[-1]:
                    for item in mine:
                        item.path.unlink(missing_ok=True)
                        removed += 1
                    continue
                bases = [f for f in mine if f.level == 9 and f.created <= cutoff]
                if not bases:
                    continue
                base = max(bases, key=lambda f: f.max_txid)
                for item in mine:
                    if item is not base and item.max_txid <= base.max_txid:
                        item.path.unlink(missing_ok=True)
                        removed += 1
            full_dir = repository.database_dir(database) / "full"
            fulls = full_backups(repository, database)
            for taken in fulls[:-1]:
                if taken < cutoff:
                    (full_dir / f"{int(taken.timestamp() * 1000)}.sqlite").unlink(missing_ok=True)
                    removed += 1
    return removed
