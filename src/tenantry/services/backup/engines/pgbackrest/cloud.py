"""pgBackRest in a cloud: which region's backup service protects each PostgreSQL server, where
its configuration lives, and the engine each region's commands drive.

A server ships its WAL through one `archive_command`, so to one pgBackRest configuration: every
server is protected by one region, its *owner*, the first region with a database on it (the
default region first, which also protects the global database and seals its backups). A server
that also holds another region's shards cannot be protected by a second stanza of that region:
that region's shards are backed up into the owner's repositories, and `backup status` says so as
a problem, since their backups then leave their region.

The owner's configuration, spool, logs and (by default) repositories live under
`DATA_DIR/backups/pgbackrest/<owner>` and `<repository>/pgbackrest` of the owner's two
repositories. pgBackRest runs as the user who owns the server's files, so those directories are
given to that user, and the directories above them are made searchable (not listable) by its
group alone.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from sqlalchemy import URL

from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import Database, DatabaseState, Progress
from tenantry.services.backup.engines.pgbackrest.engine import PgBackRestEngine, RestoreError
from tenantry.services.backup.engines.pgbackrest.servers import Stanza, stanzas_of
from tenantry.services.backup.engines.pgbackrest.settings import (
    PgBackRestSettings,
    PosixRepository,
)
from tenantry.services.backup.layout import BACKUPS, GLOBAL, RegionLayout
from tenantry.services.backup.sealed_files import make_private_dirs

HOME = "pgbackrest"
SERVER_SETTINGS_SUFFIX = ".postgresql.conf"
_SETTING_PROBLEMS = ("wal_level is", "archive_mode is", "archive_command is", "archive_timeout is")

Passphrases = Callable[[str], str | None]
"""The repository passphrase of a region, or None where it is not known (status only)."""


def key_region(topology: Topology, region: str) -> str:
    """The region whose backups (and kms passphrase) hold `region`'s (`global`: the default)."""
    return topology.default_region if region == GLOBAL else region


def _placed(topology: Topology) -> Iterator[tuple[str, Stanza]]:
    """(region, stanza of that region's databases), the default region and global first."""
    order = [
        topology.default_region,
        GLOBAL,
        *(r for r in topology.regions if r != topology.default_region),
    ]
    for region in order:
        for stanza in stanzas_of(topology, None if region == GLOBAL else region):
            yield region, stanza


def owners(topology: Topology) -> dict[str, str]:
    """The region protecting each server (by stanza name)."""
    found: dict[str, str] = {}
    for region, stanza in _placed(topology):
        found.setdefault(stanza.name, key_region(topology, region))
    return found


def owned_stanzas(topology: Topology, owner: str) -> tuple[Stanza, ...]:
    """The servers `owner` protects, each naming every database on it, of whatever region."""
    mine = {name for name, region in owners(topology).items() if region == owner}
    merged: dict[str, Stanza] = {}
    for _region, stanza in _placed(topology):
        if stanza.name not in mine:
            continue
        before = merged.get(stanza.name)
        if before is None:
            merged[stanza.name] = stanza
        else:
            databases = (*before.databases, *stanza.databases)
            merged[stanza.name] = dataclasses.replace(before, databases=databases)
    return tuple(merged.values())


def home_of(data_dir: Path, owner: str) -> Path:
    """Where `owner`'s pgBackRest configuration, spool, locks and logs live."""
    return data_dir / BACKUPS / HOME / owner


def server_settings_file(data_dir: Path, owner: str, stanza: str) -> Path:
    """Where the settings a server of `stanza` needs are written, for its operator."""
    return home_of(data_dir, owner) / f"{stanza}{SERVER_SETTINGS_SUFFIX}"


def owned_engine(
    data_dir: Path, topology: Topology, owner: str, passphrase: str | None
) -> PgBackRestEngine | None:
    """The engine of the servers `owner` protects (None when it protects none)."""
    stanzas = owned_stanzas(topology, owner)
    if not stanzas:
        return None
    layout = RegionLayout(data_dir, topology, owner)
    repositories = tuple(PosixRepository(r.name, r.root / HOME) for r in layout.repositories)
    settings = PgBackRestSettings(
        home=home_of(data_dir, owner),
        repositories=repositories,
        retention_days=topology.backup.retention_days,
    )
    return PgBackRestEngine(settings, passphrase, stanzas)


def searchable(place: Path, data_dir: Path, users: set[str]) -> None:
    """Let `users` search (not list) `place` and the directories above it up to `data_dir`:
    through their group where we may change it (so no one else gains anything), else not at
    all. pgBackRest, run as the servers' user, reads and writes under `place`."""
    make_private_dirs(place)
    groups = set()
    for user in users:
        try:
            groups.add(pwd.getpwnam(user).pw_gid)
        except KeyError:
            continue
    if len(groups) != 1 or os.geteuid() != 0:
        return
    (gid,) = groups
    for directory in (place, *place.parents):
        info = directory.stat()
        if not info.st_mode & stat.S_IXOTH:
            if info.st_gid != gid:
                # The bits the old group had are not the new group's to have.
                os.chown(directory, -1, gid)
                mode = stat.S_IMODE(info.st_mode) & ~0o070 | stat.S_IXGRP
                os.chmod(directory, mode)
            elif not info.st_mode & stat.S_IXGRP:
                mode = stat.S_IMODE(info.st_mode) | stat.S_IXGRP
                os.chmod(directory, mode)
        if directory == data_dir or directory == directory.parent:
            break


def places_of(engine: PgBackRestEngine) -> list[Path]:
    """The directories pgBackRest works in: its home and its repositories on disk."""
    places = [engine.settings.home]
    places += [r.path for r in engine.settings.repositories if isinstance(r, PosixRepository)]
    return places


def open_to_server_user(engine: PgBackRestEngine, data_dir: Path) -> None:
    """Let the servers' user reach the engine's home and repositories (pgBackRest, run by the
    servers' archive_command, reads and writes there)."""
    for place in places_of(engine):
        searchable(place, data_dir, engine.server_users())


class RegionEngine:
    """The `BackupEngine` of one region on PostgreSQL: the engines of the servers its databases
    live on, seen for its own shards."""

    tool = "pgbackrest"

    def __init__(
        self,
        data_dir: Path,
        region: str,
        shards: Sequence[str],
        parts: Sequence[tuple[str, PgBackRestEngine]],
        notes: dict[str, list[str]],
        settings_files: dict[str, Path],
    ) -> None:
        self.data_dir = data_dir
        self.region = region
        self.shards = tuple(shards)
        self.parts = tuple(parts)
        self.notes = notes
        self._settings_files = settings_files

    def states(self) -> list[DatabaseState]:
        states = []
        for _owner, engine in self.parts:
            for state in engine.states():
                if state.database.shard not in self.shards:
                    continue
                notes = list(self.notes.get(state.database.shard, []))
                written = self._settings_files.get(state.database.shard)
                lacking = any(p.startswith(_SETTING_PROBLEMS) for p in state.problems)
                if lacking and written is not None and written.exists():
                    notes.append(
                        f"every setting the server needs is in {written}: include it from "
                        "postgresql.conf and restart the server"
                    )
                if notes:
                    state = dataclasses.replace(state, problems=(*state.problems, *notes))
                states.append(state)
        return states

    def back_up_now(self, progress: Progress, done: set[str] | None = None) -> None:
        """A full backup of every server of the region, but those whose owner is in `done`
        (a server shared by regions is backed up once per command); adds to `done`."""
        done = set() if done is None else done
        for owner, engine in self.parts:
            if owner not in done:
                engine.back_up("full", progress)
                done.add(owner)

    def verify(self) -> list[str]:
        """What is wrong in the repositories of every server of the region."""
        return [problem for _owner, engine in self.parts for problem in engine.verify()]

    def restore_copy(
        self, database: Database, at: datetime | None, scratch: Path
    ) -> AbstractContextManager[URL]:
        for _owner, engine in self.parts:
            for stanza in engine.stanzas:
                if any(shard == database.shard for shard, _ in stanza.databases):
                    if scratch.is_relative_to(self.data_dir):
                        searchable(scratch, self.data_dir, engine.server_users())
                    return engine.restore_copy(Database(database.shard, None), at, scratch)
        raise RestoreError(f"{database.shard} is not a database of {self.region} on PostgreSQL")

    def restore_in_place(self, at: datetime | None, progress: Progress) -> None:
        """Restore every server holding the region's databases (each whole: the other
        databases on it come back to the same second)."""
        for _owner, engine in self.parts:
            engine.restore_in_place(at, progress)


def engine_for(
    data_dir: Path, topology: Topology, region: str, passphrases: Passphrases
) -> RegionEngine:
    """The engine of `region` (or `global`): its servers' owners' engines, and a note on each
    shard whose server another region protects."""
    layout = RegionLayout(data_dir, topology, region)
    mine = key_region(topology, region)
    by_server = owners(topology)
    notes: dict[str, list[str]] = {}
    wanted: list[str] = []
    for stanza in stanzas_of(topology, None if region == GLOBAL else region):
        owner = by_server[stanza.name]
        if owner not in wanted:
            wanted.append(owner)
        if owner != mine:
            for shard, _ in stanza.databases:
                notes.setdefault(shard, []).append(
                    f"the server of {shard} ({stanza.name}) also holds databases of {owner}, "
                    f"whose backup service protects it: a server ships its WAL to one archive "
                    f"only, so {shard}'s backups are kept in {owner}'s repositories, outside "
                    f"{mine}; give {mine} a PostgreSQL server of its own"
                )
    parts = []
    for owner in wanted:
        engine = owned_engine(data_dir, topology, owner, passphrases(owner))
        if engine is not None:
            parts.append((owner, engine))
    settings_files = {
        shard: server_settings_file(data_dir, owner, stanza.name)
        for owner, engine in parts
        for stanza in engine.stanzas
        for shard, _ in stanza.databases
    }
    return RegionEngine(data_dir, region, layout.shards, parts, notes, settings_files)
