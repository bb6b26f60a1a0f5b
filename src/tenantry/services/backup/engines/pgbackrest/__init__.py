"""pgBackRest protecting a region's PostgreSQL servers: configuration, commands, state, restores.

`pgbackrest_engine` builds the engine from the topology; `PgBackRestEngine` is the
`BackupEngine` the backup service, the restores and the restore drill drive.
"""

from tenantry.services.backup.engines.pgbackrest.engine import (
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
    "PgBackRestEngine",
    "PgBackRestSettings",
    "PosixRepository",
    "RestoreError",
    "S3Repository",
    "pgbackrest_engine",
]
