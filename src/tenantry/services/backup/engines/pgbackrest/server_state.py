"""How a live PostgreSQL server stands for its backups: its settings, its archiver, and what the
asynchronous archiver failed to push."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from tenantry.services.backup.engines.pgbackrest import config
from tenantry.services.backup.engines.pgbackrest.servers import Stanza, connect
from tenantry.services.backup.engines.pgbackrest.settings import PgBackRestSettings


def missing_settings(settings: PgBackRestSettings, stanza: Stanza) -> list[str]:
    """What the live server's settings lack for its WAL to reach the repositories."""
    names = ("wal_level", "archive_mode", "archive_command", "archive_timeout")
    with connect(stanza.conninfo) as connection:
        rows = connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(names),)
        ).fetchall()
    live = {str(name): str(setting) for name, setting in rows}
    return config.missing_settings(settings, stanza.name, live)


def server_state(settings: PgBackRestSettings, stanza: Stanza, problems: list[str]) -> str | None:
    """Check the live server's settings and archiver; returns the WAL segment it is writing."""
    problems += _push_errors(settings, stanza)
    try:
        problems += missing_settings(settings, stanza)
        with connect(stanza.conninfo) as connection:
            archiver = connection.execute(
                "SELECT failed_count, last_failed_wal, last_failed_time, last_archived_wal, "
                "last_archived_time, CASE WHEN pg_is_in_recovery() THEN NULL "
                "ELSE pg_walfile_name(pg_current_wal_lsn()) END FROM pg_stat_archiver"
            ).fetchone()
            problems += _waiting_wal(settings, connection)
    except psycopg.OperationalError as exc:
        problems.append(unreachable(stanza, exc))
        return None
    except psycopg.Error as exc:
        # Reading the archiver's state takes a superuser (or pg_monitor) DSN.
        problems.append(f"the archiver of {stanza.name} cannot be read: {exc}")
        return None
    assert archiver is not None
    failed, failed_wal, failed_at, archived_wal, archived_at, current = archiver
    assert failed_at is None or isinstance(failed_at, datetime)
    assert archived_at is None or isinstance(archived_at, datetime)
    if failed and failed_at is not None and (archived_at is None or failed_at > archived_at):
        problems.append(
            f"archive_command is failing: {failed_wal} failed at {failed_at:%Y-%m-%d %H:%M:%S}"
            f" ({failed} failures); the last WAL archived was {archived_wal} at "
            + (f"{archived_at:%Y-%m-%d %H:%M:%S}" if archived_at else "never")
            + f"; see {settings.log_path}"
        )
    return str(current) if current is not None else None


def _waiting_wal(
    settings: PgBackRestSettings, connection: psycopg.Connection[tuple[object, ...]]
) -> list[str]:
    """WAL PostgreSQL has finished but not yet seen archived, when it has waited too long
    (an archive_command that hangs on a lost repository fails nothing for a while)."""
    row = connection.execute(
        "SELECT count(*), min(modification) FROM pg_ls_archive_statusdir() "
        "WHERE name LIKE '%.ready'"
    ).fetchone()
    assert row is not None
    waiting, since = row
    patience = timedelta(seconds=settings.archive_timeout + settings.io_timeout)
    if not waiting or not isinstance(since, datetime) or datetime.now(UTC) - since < patience:
        return []
    return [
        f"{waiting} WAL segments wait to be archived, the oldest since "
        f"{since:%Y-%m-%d %H:%M:%S}: see {settings.log_path}"
    ]


def _push_errors(settings: PgBackRestSettings, stanza: Stanza) -> list[str]:
    """What the asynchronous archiver last failed to push, and where (it leaves an .error
    file per segment in its spool until the segment reaches every repository)."""
    spool = settings.spool_path / "archive" / stanza.name / "out"
    try:
        failures = sorted(spool.glob("*.error"))
    except OSError:
        return []
    if not failures:
        return []
    try:
        lines = failures[-1].read_text(errors="replace").splitlines()
    except OSError:
        return []
    reason = " ".join(line.strip() for line in lines[1:3] if line.strip())
    return [
        f"WAL {failures[-1].stem} has not reached every repository "
        f"({len(failures)} segments failing): {reason}"
    ]


def unreachable(stanza: Stanza, exc: Exception) -> str:
    shards = ", ".join(shard for shard, _ in stanza.databases)
    return f"the server of {shards} ({stanza.name}) does not answer: {str(exc).strip()}"
