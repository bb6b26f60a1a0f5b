"""A throwaway PostgreSQL server on a restored data directory, reachable by its socket only."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import URL

from tenantry.services.backup.engines.pgbackrest.command import (
    CommandError,
    give_file_to,
    give_to,
    run,
)

_CONTROL_SETTINGS = {
    "max_connections": "max_connections setting",
    "max_worker_processes": "max_worker_processes setting",
    "max_wal_senders": "max_wal_senders setting",
    "max_prepared_transactions": "max_prepared_xacts setting",
    "max_locks_per_transaction": "max_locks_per_xact setting",
}
"""Settings a recovering server must hold at least as high as the server that wrote the WAL."""

_SOCKET_PATH_MAX = 100


class ScratchError(RuntimeError):
    """The scratch server would not start or did not finish its recovery."""


class ScratchServer:
    """PostgreSQL on `root/data`, listening on a socket in a directory only its owner enters
    (under the temporary directory: a socket's path must be short, a scratch space's need not).

    It never listens on TCP and never archives, so a restored copy can reach nobody and nothing
    it does reaches the production repositories.
    """

    def __init__(self, root: Path, postgres_bin: Path, os_user: str, user: str) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = Path(tempfile.mkdtemp(prefix="tenantry-pg-"))
        self.log = root / "log" / "postgresql.log"
        self.postgres_bin = postgres_bin
        self.os_user = os_user
        self.user = user
        self.port = _spare_port()
        if len(str(self.sockets)) + len("/.s.PGSQL.65535") > _SOCKET_PATH_MAX:
            self.sockets.rmdir()
            raise ScratchError(f"the temporary directory {self.sockets.parent} is too deep")

    def make_directories(self) -> None:
        give_to(self.root, self.os_user, 0o700)
        give_to(self.data, self.os_user, 0o700)
        give_to(self.sockets, self.os_user, 0o700)
        give_to(self.log.parent, self.os_user, 0o700)
        reachable = run(["test", "-w", str(self.data)], self.os_user, check=False)
        if reachable.returncode != 0:
            raise ScratchError(
                f"{self.data} is out of reach of user {self.os_user}: every directory above "
                "the scratch space must let that user through"
            )

    def configure(self) -> None:
        """Write the server's own configuration (a restored data directory may hold none)."""
        control = run(
            [str(self.postgres_bin / "pg_controldata"), str(self.data)], self.os_user
        ).stdout
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.sockets}'",
            "port": str(self.port),
            "archive_mode": "off",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "32MB",
            "logging_collector": "off",
        }
        for name, label in _CONTROL_SETTINGS.items():
            found = re.search(rf"^{re.escape(label)}:\s+(\d+)", control, re.MULTILINE)
            if found:
                settings[name] = found.group(1)
        files = {
            "postgresql.conf": "".join(f"{k} = {v}\n" for k, v in settings.items()),
            "pg_hba.conf": "local all all trust\n",
            "pg_ident.conf": "",
        }
        for name, text in files.items():
            path = self.data / name
            path.write_text(text)
            path.chmod(0o600)
            give_file_to(path, self.os_user)

    def start(self, timeout: float) -> None:
        """Start the server and wait until its recovery is over and it has been promoted."""
        try:
            run(
                [
                    str(self.postgres_bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ],
                self.os_user,
                timeout=timeout + 10,
            )
        except CommandError as exc:
            raise ScratchError(self._failure() or exc.reason) from exc
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.conninfo("postgres"), autocommit=True) as connection:
                    row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row is not None and not row[0]:
                        return
            except psycopg.OperationalError:
                if not self._running():
                    raise ScratchError(self._failure() or "the scratch server stopped") from None
            if time.monotonic() > deadline:
                raise ScratchError(f"recovery did not finish within {timeout:.0f} s")
            time.sleep(0.2)

    def conninfo(self, database: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=str(self.sockets), port=self.port, user=self.user, dbname=database
        )

    def url(self, database: str) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            database=database,
            query={"host": str(self.sockets), "port": str(self.port)},
        )

    def stop_and_remove(self) -> None:
        """Stop the server (at once: it holds nothing worth keeping) and delete its files."""
        if self._running():
            run(
                [
                    str(self.postgres_bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "stop",
                ],
                self.os_user,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.sockets, ignore_errors=True)

    def _running(self) -> bool:
        done = run(
            [str(self.postgres_bin / "pg_ctl"), "-D", str(self.data), "status"],
            self.os_user,
            timeout=30,
            check=False,
        )
        return done.returncode == 0

    def _failure(self) -> str:
        """The server's FATAL lines, which say why it would not start or recover."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
        return "; ".join(fatal[-2:])


def _spare_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
