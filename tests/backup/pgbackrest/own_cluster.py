"""A PostgreSQL 15 cluster a test owns (archive settings and all), on a spare port.

Made with Debian's `pg_createcluster` and dropped with `pg_dropcluster --stop`, so the shared
server on 5432 is never reconfigured.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from loopback_ports import unused_port

VERSION = "15"


@dataclass(frozen=True)
class OwnCluster:
    name: str
    port: int

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, database: str, statement: str, *params: object) -> list[tuple[object, ...]]:
        """Run one statement (autocommit) and return its rows, if it has any."""
        with psycopg.connect(self.dsn(database), autocommit=True) as connection:
            cursor = connection.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else []

    def restart(self) -> None:
        subprocess.run(["pg_ctlcluster", VERSION, self.name, "restart"], check=True)

    def stop(self) -> None:
        subprocess.run(["pg_ctlcluster", VERSION, self.name, "stop"], check=True)

    def start(self) -> None:
        """Start the cluster and wait until it takes writes (a restored one recovers first)."""
        subprocess.run(["pg_ctlcluster", VERSION, self.name, "start"], check=True)
        deadline = time.monotonic() + 120
        while self.execute("postgres", "SELECT pg_is_in_recovery()") != [(False,)]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster {self.name} is still recovering")
            time.sleep(0.2)


@contextmanager
def own_cluster() -> Iterator[OwnCluster]:
    """A running cluster that trusts local connections; dropped at the end, even on failure."""
    cluster = OwnCluster(f"tr{uuid.uuid4().hex[:8]}", unused_port())
    options = ["-o", "fsync=off", "-o", "shared_buffers=16MB", "-o", "max_connections=20"]
    create = ["pg_createcluster", VERSION, cluster.name, "-p", str(cluster.port), *options]
    try:
        subprocess.run(
            [*create, "--", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        subprocess.run(["pg_ctlcluster", VERSION, cluster.name, "start"], check=True)
        yield cluster
    finally:
        # At once: a clean stop waits on the archiver, which may be retrying a lost repository.
        subprocess.run(
            ["pg_ctlcluster", VERSION, cluster.name, "stop", "-m", "immediate"],
            check=False,
            capture_output=True,
        )
        subprocess.run(
            ["pg_dropcluster", "--stop", VERSION, cluster.name], check=True, capture_output=True
        )
