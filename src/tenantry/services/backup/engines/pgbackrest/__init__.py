"""pgBackRest protecting a region's PostgreSQL servers: configuration, commands, state, restores.

`pgbackrest_engine(topology, region, passphrase, home)` builds the engine of one region (or of
the global database, region None); `PgBackRestEngine` is the `BackupEngine` the backup service,
the restores and the restore drill drive:

- at start, `prepare()` writes the configuration, creates the stanzas and runs `pgbackrest
  check`; it returns what is missing by stanza. Where tenantry runs the server itself,
  `apply_server_settings()` sets archive_mode, archive_command, archive_timeout and wal_level
  and names the servers that must restart; elsewhere `server_settings(stanza)` is what the
  server's operator must set, and `states()` keeps saying what is missing until it is.
- on a schedule, `back_up("full", progress)` daily and `back_up("incr", progress)` between.
- in the restore drill, `verify()` (empty when every file of every repository checks out) and
  `restore_copy(...)`; restores raise RestoreError (NotConfiguredError before `prepare`).
"""

from tenantry.services.backup.engines.pgbackrest.engine import (
    BackupError,
    NotConfiguredError,
    PgBackRestEngine,
    RestoreError,
    pgbackrest_engine,
)
from tenantry.services.backup.engines.pgbackrest.settings import (
    PgBackRestSettings,
    PosixRepository,
    S3Repository,
)

__all__ = [
    "BackupError",
    "NotConfiguredError",
    "PgBackRestEngine",
    "PgBackRestSettings",
    "PosixRepository",
    "RestoreError",
    "S3Repository",
    "pgbackrest_engine",
]
