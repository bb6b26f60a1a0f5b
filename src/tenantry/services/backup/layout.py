"""Where a region's backups live: its databases, its staging replica, its two repositories.

Every path derives from the data directory and the topology, so the backup service, `backup
status`, the restores and the drill find the same places. The region `global` stands for the
global databases; the default region's backup service protects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import Database

GLOBAL = "global"
BACKUPS = "backups"


class UnknownRegion(ValueError):
    """A region the topology does not have (nor `global`)."""


@dataclass(frozen=True, slots=True)
class Repository:
    """One of a region's two backup repositories: a directory standing for one zone."""

    name: str
    root: Path

    def database_dir(self, database: Database) -> Path:
        """Where `database`'s files go in this repository."""
        return self.root / "databases" / database.shard / (database.service or "postgres")

    @property
    def media_dir(self) -> Path:
        """Where the region's media blobs are copied."""
        return self.root / "media"


@dataclass(frozen=True, slots=True)
class RegionLayout:
    """The backup places of one region (or `global`)."""

    data_dir: Path
    topology: Topology
    region: str

    def __post_init__(self) -> None:
        if self.region != GLOBAL and self.region not in self.topology.regions:
            known = ", ".join([*self.topology.regions, GLOBAL])
            raise UnknownRegion(f"there is no region {self.region!r}; one of: {known}")

    @property
    def shards(self) -> tuple[str, ...]:
        """The shards whose databases this region's backups hold."""
        if self.region == GLOBAL:
            return (GLOBAL_SHARD,)
        return tuple(shard.name for shard in self.topology.regions[self.region].shards)

    @property
    def zones(self) -> tuple[str, str]:
        """The two zones the repositories stand for (the default region's, for `global`)."""
        region = self.topology.default_region if self.region == GLOBAL else self.region
        zones = self.topology.regions[region].zones
        return (zones[0], zones[1]) if len(zones) > 1 else (zones[0], f"{zones[0]}-copy")

    @property
    def repositories(self) -> tuple[Repository, Repository]:
        """Both repositories of the region, the first zone's first."""
        configured = self.topology.backup.repositories
        first, second = self.zones
        if configured:
            return (
                Repository(first, Path(configured[0]) / self.region),
                Repository(second, Path(configured[1]) / self.region),
            )
        base = self.data_dir / BACKUPS / self.region
        return (Repository(first, base / first), Repository(second, base / second))

    @property
    def staging(self) -> Path:
        """Litestream's own file replicas, before they are sealed into the repositories."""
        return self.data_dir / BACKUPS / "staging" / self.region

    def staging_dir(self, database: Database) -> Path:
        """Litestream's replica of one database."""
        return self.staging / database.shard / (database.service or "postgres")

    @property
    def agent_state_file(self) -> Path:
        """What the backup service last found about each repository (for `backup status`)."""
        return self.data_dir / BACKUPS / f"agent-{self.region}.json"

    @property
    def drill_file(self) -> Path:
        """The result of the region's last restore drill."""
        return self.data_dir / BACKUPS / f"drill-{self.region}.json"

    @property
    def media_store(self) -> Path | None:
        """The region's media directory (none for `global`)."""
        return None if self.region == GLOBAL else self.data_dir / "media" / self.region

    @property
    def key_region(self) -> str:
        """Whose kms backup key seals this region's backups."""
        return self.topology.default_region if self.region == GLOBAL else self.region

    def sqlite_path(self, database: Database) -> Path:
        """The live SQLite file of `database`."""
        assert database.service is not None
        return SqliteBackend(self.data_dir).path(database.service, database.shard)

    def sqlite_databases(self) -> tuple[Database, ...]:
        """Every live SQLite database of the region, found on disk."""
        found = []
        for shard in self.shards:
            directory = self.sqlite_path(Database(shard, "x")).parent
            for path in sorted(directory.glob("*.sqlite")):
                found.append(Database(shard, path.stem))
        return tuple(found)

    def backed_up_databases(self) -> tuple[Database, ...]:
        """Every database either repository holds backups of (what a recovery brings back)."""
        found: set[Database] = set()
        for repository in self.repositories:
            for shard in self.shards:
                directory = repository.root / "databases" / shard
                if directory.is_dir():
                    found |= {Database(shard, p.name) for p in directory.iterdir() if p.is_dir()}
        return tuple(sorted(found, key=lambda d: (d.shard, d.service or "")))


def regions_of(topology: Topology) -> tuple[str, ...]:
    """Every region with backups: the topology's, then `global`."""
    return (*topology.regions, GLOBAL)
