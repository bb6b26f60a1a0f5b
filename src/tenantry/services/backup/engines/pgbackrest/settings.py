"""What an operator chooses about pgBackRest: its repositories, retention and timings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RETENTION_DAYS = 30
DEFAULT_ARCHIVE_TIMEOUT = 60
"""Seconds after which PostgreSQL ships a WAL segment that has any write in it, so a quiet shard
still reaches its repositories at least every minute."""


@dataclass(frozen=True, slots=True)
class PosixRepository:
    """A repository in a directory: by default one per zone of the region."""

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class S3Repository:
    """A repository in an S3 bucket (pgBackRest speaks HTTPS only; path-style suits S3-alikes)."""

    name: str
    bucket: str
    endpoint: str
    region: str
    key: str
    key_secret: str
    path: str = "/pgbackrest"
    port: int = 443
    uri_style: str = "path"
    ca_file: Path | None = None
    verify_tls: bool = True


Repository = PosixRepository | S3Repository


@dataclass(frozen=True, slots=True)
class PgBackRestSettings:
    """Everything the pgBackRest configuration of one region is written from.

    Repositories are listed by priority: restores and WAL fetches try the first one first, so an
    S3 repository goes after the zones' directories.
    """

    home: Path
    """Where the configuration, spool, locks and logs live (readable by the servers' user)."""
    repositories: tuple[Repository, ...]
    retention_days: int = DEFAULT_RETENTION_DAYS
    archive_timeout: int = DEFAULT_ARCHIVE_TIMEOUT
    archive_push_queue_max: str = "4GiB"
    """WAL kept waiting in pg_wal for a repository before pgBackRest lets it go, so a lost
    repository never fills the server's disk."""
    io_timeout: int = 5
    """Seconds one repository may stall a read or write. Each run of the asynchronous archiver
    first reads every repository's archive.info, retrying; with an S3 repository that hangs it
    measured about 60 s per run at 15 s (when 60 s is the promised recovery point), about 20 s
    at 5 s, so a lost repository holds WAL back from the others for a short while only."""
    process_max: int = 2
    postgres_bin: Path = Path("/usr/lib/postgresql/15/bin")
    pgbackrest_bin: str = "pgbackrest"
    extra_options: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    """More `[global]` options, as (name, value), for what these settings do not name."""

    @property
    def config_path(self) -> Path:
        return self.home / "pgbackrest.conf"

    @property
    def spool_path(self) -> Path:
        return self.home / "spool"

    @property
    def lock_path(self) -> Path:
        return self.home / "lock"

    @property
    def log_path(self) -> Path:
        return self.home / "log"
