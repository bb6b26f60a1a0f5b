"""The backup tests drive each backend's own tool, so each file runs in one run of the suite.

Litestream's tests start clouds on SQLite (they use `storage_backend`, as every cloud does, and
are marked `backend` by it); the PostgreSQL run leaves them out, since Litestream does not
protect a PostgreSQL shard. pgBackRest's tests own a cluster of their own (see `pgbackrest/`).
"""

from backends import BACKEND

collect_ignore_glob = (
    ["test_litestream_*.py", "test_drill_schedule.py"] if BACKEND == "postgres" else []
)
