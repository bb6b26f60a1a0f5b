"""pgBackRest protecting a real PostgreSQL cluster: backups, point-in-time copies of one
database, verification, a lost repository, and repositories that hold no plaintext."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from own_cluster import OwnCluster, own_cluster
from sqlalchemy import create_engine, text
from tls_proxy import tls_proxy

from kms.moto_server import moto_kms_server
from postgres_server import SERVER
from tenantry.platform.topology import load_topology
from tenantry.services.backup.engines.engine import Database, DatabaseState
from tenantry.services.backup.engines.pgbackrest import (
    NotConfiguredError,
    PgBackRestEngine,
    RestoreError,
    S3Repository,
    pgbackrest_engine,
)

PASSPHRASE = "a-test-passphrase-of-some-length"
MARKER = f"plaintext-marker-{uuid.uuid4().hex}"
S3_REGION = "us-east-1"
BUCKET = f"pgbackrest-{uuid.uuid4().hex[:12]}"
ARCHIVE_TIMEOUT = 10
US_1 = Database(shard="us-1", service=None)


def _host_and_port(endpoint: str) -> tuple[str, int]:
    host, port = endpoint.removeprefix("http://").split(":")
    return host, int(port)


def _topology(path: Path, dsn_of: dict[str, str]) -> Path:
    path.write_text(
        f'[global]\ndsn = "{dsn_of["global"]}"\n'
        '[regions.us]\nzones = ["us-a", "us-b"]\n'
        f'shards = [{{ name = "us-1", zone = "us-a", dsn = "{dsn_of["us-1"]}" }},'
        f' {{ name = "us-2", zone = "us-b", dsn = "{dsn_of["us-2"]}" }}]\n'
    )
    return path


@dataclass
class Protected:
    cluster: OwnCluster
    engine: PgBackRestEngine
    home: Path
    scratch: Path
    progress: list[tuple[str, int, int]]
    s3: Any

    def repository(self, index: int) -> Path:
        return self.home / "backup" / "repositories" / ("us-a", "us-b")[index]


@pytest.fixture(scope="module")
def protected() -> Iterator[Protected]:
    """A cluster of its own with the region's two shard databases and the global one, its WAL
    shipped by pgBackRest to two encrypted repositories, and a first full backup."""
    # pytest's temporary directories are closed to the server's user: use one it can enter.
    home = Path(tempfile.mkdtemp(prefix="tenantry-pgbr-"))
    home.chmod(0o755)
    (home / "tls").mkdir(mode=0o755)
    try:
        # The cluster is dropped first: it would wait on a repository gone before it.
        with (
            moto_kms_server() as endpoint,
            tls_proxy(_host_and_port(endpoint), home / "tls") as (tls_port, ca_file),
            own_cluster() as cluster,
        ):
            ca_file.chmod(0o644)
            s3 = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=S3_REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            for database in ("shard_one", "shard_two", "tglobal"):
                cluster.execute("postgres", f"CREATE DATABASE {database}")
            cluster.execute("shard_one", "CREATE TABLE note (id int PRIMARY KEY, body text)")
            cluster.execute("shard_two", "CREATE TABLE note (id int PRIMARY KEY, body text)")
            topology = load_topology(
                _topology(
                    home / "topology.toml",
                    {
                        "global": cluster.dsn("tglobal"),
                        "us-1": cluster.dsn("shard_one"),
                        "us-2": cluster.dsn("shard_two"),
                    },
                )
            )
            s3_repository = S3Repository(
                name="s3",
                bucket=BUCKET,
                endpoint="localhost",  # pgBackRest checks a DNS name, not an IP address
                region=S3_REGION,
                key="testing",
                key_secret="testing",
                port=tls_port,
                ca_file=ca_file,
            )
            engine = pgbackrest_engine(
                topology,
                "us",
                PASSPHRASE,
                home / "backup",
                extra_repositories=[s3_repository],
                archive_timeout=ARCHIVE_TIMEOUT,
            )
            engine.write_configuration()
            assert engine.apply_server_settings() == [engine.stanzas[0].name]
            cluster.restart()
            assert engine.prepare() == {engine.stanzas[0].name: []}
            progress: list[tuple[str, int, int]] = []
            _insert(cluster, "shard_one", range(1, 11), MARKER)
            engine.back_up_now(lambda what, done, total: progress.append((what, done, total)))
            scratch = home / "scratch"
            yield Protected(cluster, engine, home, scratch, progress, s3)
    finally:
        _wait_for_archiver_to_leave(home)
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_archiver_to_leave(home: Path) -> None:
    """pgBackRest's asynchronous archiver outlives a server stopped at once, and would make its
    spool and log directories again: wait for it to finish before deleting them."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = False
        for process in Path("/proc").iterdir():
            try:
                running |= str(home).encode() in (process / "cmdline").read_bytes()
            except OSError:
                continue
        if not running:
            return
        time.sleep(0.2)


def _insert(cluster: OwnCluster, database: str, ids: range, body: str) -> None:
    with psycopg.connect(cluster.dsn(database), autocommit=True) as connection:
        for row in ids:
            connection.execute("INSERT INTO note VALUES (%s, %s)", (row, f"{body} {row}"))


def _ids(url: object) -> list[int]:
    engine = create_engine(url)  # type: ignore[call-overload]
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("SELECT id FROM note ORDER BY id")).scalars())
    finally:
        engine.dispose()


def _databases(url: object) -> set[str]:
    engine = create_engine(url)  # type: ignore[call-overload]
    try:
        with engine.connect() as connection:
            names = connection.execute(text("SELECT datname FROM pg_database")).scalars()
            return set(names)
    finally:
        engine.dispose()


def _next_second() -> datetime:
    """Wait for the clock to pass into a new second, and return that second."""
    start = datetime.now(UTC).replace(microsecond=0)
    while datetime.now(UTC).replace(microsecond=0) == start:
        time.sleep(0.05)
    return start + timedelta(seconds=1)


def test_an_unconfigured_server_is_not_called_protected(tmp_path: Path) -> None:
    """The shared server (archive_mode off, no archive_command, no configuration written):
    states() only reads it, and says plainly what is missing."""
    topology = load_topology(
        _topology(
            tmp_path / "topology.toml",
            {name: f"{SERVER}/postgres" for name in ("global", "us-1", "us-2")},
        )
    )
    engine = pgbackrest_engine(topology, "us", PASSPHRASE, tmp_path / "backup")
    [first, second] = engine.states()
    assert (first.database, second.database) == (US_1, Database("us-2", None))
    problems = "\n".join(first.problems)
    assert "archive_mode is 'off'" in problems
    assert "set archive_command = 'pgbackrest" in problems
    assert "archive_timeout is 0 s" in problems
    assert "no pgBackRest configuration" in problems
    assert first.last_full_backup is None and first.behind_seconds is None
    assert [r.reachable for r in first.repositories] == [False, False]
    with pytest.raises(NotConfiguredError, match="never been configured"):
        engine.back_up_now(lambda *step: None)
    with pytest.raises(NotConfiguredError), engine.restore_copy(US_1, None, tmp_path):
        pass


def test_a_full_backup_reaches_every_repository(protected: Protected) -> None:
    assert protected.progress[0][1:] == (0, 3) and protected.progress[-1][1:] == (3, 3)
    [us_1, us_2] = protected.engine.states()
    assert us_1.problems == (), us_1.problems
    assert us_1.last_full_backup is not None
    assert us_1.oldest_restorable is not None
    assert [(r.name, r.reachable) for r in us_1.repositories] == [
        ("us-a", True),
        ("us-b", True),
        ("s3", True),
    ]
    assert us_1.repositories[2].location == f"s3://{BUCKET}/pgbackrest"
    assert all(r.behind_seconds is not None for r in us_1.repositories)
    assert us_1.behind_seconds is not None
    assert (
        us_2.database == Database("us-2", None) and us_2.last_full_backup == us_1.last_full_backup
    )


def test_a_copy_at_a_second_holds_exactly_the_rows_written_by_then(protected: Protected) -> None:
    cluster = protected.cluster
    _insert(cluster, "shard_one", range(11, 16), "after the backup")
    protected.engine.back_up("incr", lambda *step: None)
    _insert(cluster, "shard_one", range(16, 21), "after the incremental backup")
    at = _next_second()
    _next_second()
    _insert(cluster, "shard_one", range(21, 31), "after the chosen second")
    _insert(cluster, "shard_two", range(1, 4), "the neighbour's")
    with protected.engine.restore_copy(US_1, at, protected.scratch) as url:
        assert _ids(url) == list(range(1, 21))
        assert _databases(url) == {"shard_one", "postgres", "template0", "template1"}
    with protected.engine.restore_copy(US_1, None, protected.scratch) as url:
        assert _ids(url) == list(range(1, 31))
    assert list(protected.scratch.iterdir()) == []
    # The live cluster was not touched by either copy.
    assert len(cluster.execute("shard_one", "SELECT id FROM note")) == 30


def test_a_copy_before_every_backup_is_refused_plainly(protected: Protected) -> None:
    with (
        pytest.raises(RestoreError, match="no backup of us-1 is older than"),
        protected.engine.restore_copy(US_1, datetime(2020, 1, 1, tzinfo=UTC), protected.scratch),
    ):
        pass
    assert list(protected.scratch.iterdir()) == []


def test_a_scratch_space_the_server_user_cannot_enter_is_refused_plainly(
    protected: Protected, tmp_path: Path
) -> None:
    # pytest's directories belong to root alone (0700): PostgreSQL's user cannot work there.
    with (
        pytest.raises(RestoreError, match="out of reach of user postgres"),
        protected.engine.restore_copy(US_1, None, tmp_path / "scratch"),
    ):
        pass
    assert list((tmp_path / "scratch").iterdir()) == []


def test_the_repositories_hold_no_plaintext(protected: Protected) -> None:
    protected.cluster.execute("postgres", "SELECT pg_switch_wal()")
    needle = MARKER.encode()
    scanned = 0
    for path in (protected.home / "backup").rglob("*"):
        if path.is_file() and path.name != "pgbackrest.conf":
            scanned += 1
            assert needle not in path.read_bytes(), path
    assert scanned > 10
    objects = protected.s3.list_objects_v2(Bucket=BUCKET, Prefix="pgbackrest/")["Contents"]
    assert len(objects) > 10
    for entry in objects:
        body = protected.s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
        assert needle not in body, entry["Key"]
    # The marker is in the live cluster's files, where a scan does find it.
    with psycopg.connect(protected.cluster.dsn("shard_one"), autocommit=True) as connection:
        connection.execute("CHECKPOINT")
        row = connection.execute("SELECT current_setting('data_directory')").fetchone()
    assert row is not None
    assert any(
        needle in path.read_bytes() for path in Path(str(row[0])).rglob("*") if path.is_file()
    )


def test_verify_reports_a_corrupted_backup_file(protected: Protected) -> None:
    assert protected.engine.verify() == []
    backup = protected.repository(1) / "backup"
    victim = max(
        (p for p in backup.rglob("*") if p.is_file() and "backup.manifest" not in p.name),
        key=lambda path: path.stat().st_size,
    )
    original = victim.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    try:
        problems = protected.engine.verify()
    finally:
        victim.write_bytes(original)
    assert len(problems) == 1, problems
    assert problems[0].startswith("us-b: ") and "invalid" in problems[0]


def test_wal_keeps_reaching_one_repository_when_the_other_is_unwritable(
    protected: Protected,
) -> None:
    cluster = protected.cluster
    stanza = protected.engine.stanzas[0].name
    timelines = [protected.repository(i) / "archive" / stanza / "15-1" for i in (0, 1)]
    locked = [timelines[1], *timelines[1].iterdir()]
    for path in locked:
        path.chmod(0o555)
    try:
        newest_in_b = max(p.stat().st_mtime for p in timelines[1].rglob("*") if p.is_file())
        for attempt in range(200):
            _insert(cluster, "shard_one", range(1000 + attempt, 1001 + attempt), "while B is lost")
            [(segment,)] = cluster.execute("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
            if _arrived(timelines[0], str(segment), newest_in_b):
                break
        else:
            pytest.fail("WAL stopped reaching repository us-a while us-b was unwritable")
        assert not any(timelines[1].rglob(f"{segment}-*"))
        us_1 = _state_once_it_tells(protected.engine, "has not reached every repository")
        a, b, s3 = us_1.repositories
        assert a.reachable and b.reachable and s3.reachable
        assert a.behind_seconds is not None and b.behind_seconds is not None
        assert b.behind_seconds > a.behind_seconds
        assert us_1.behind_seconds == b.behind_seconds
        [failing] = [p for p in us_1.problems if "has not reached every repository" in p]
        assert "repo2" in failing and "Permission denied" in failing
    finally:
        for path in locked:
            path.chmod(0o750)


def _arrived(timeline: Path, segment: str, after: float) -> bool:
    """Whether `segment` reached the repository a whole second after `after` (file times)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(timeline.rglob(f"{segment}-*"))
        if found:
            return int(found[0].stat().st_mtime) > int(after)
        time.sleep(0.1)
    return False


def _state_once_it_tells(engine: PgBackRestEngine, problem: str) -> DatabaseState:
    """The first shard's state, once its problems mention `problem` (the archiver reports a
    failed push a moment after the other repository has the segment)."""
    deadline = time.monotonic() + 60
    while True:
        state = engine.states()[0]
        if any(problem in found for found in state.problems) or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def test_the_s3_repository_alone_makes_a_copy(protected: Protected) -> None:
    """Both zones' repositories gone: restores read the S3 one, last in priority."""
    _insert(protected.cluster, "shard_one", range(3000, 3005), "with only S3 left")
    zones = [protected.repository(0), protected.repository(1)]
    for zone in zones:
        zone.rename(zone.with_name(zone.name + ".lost"))
    try:
        with protected.engine.restore_copy(US_1, None, protected.scratch) as url:
            assert _ids(url)[-5:] == list(range(3000, 3005))
    finally:
        for zone in zones:
            zone.with_name(zone.name + ".lost").rename(zone)


def test_a_lost_server_comes_back_whole_from_the_repositories(protected: Protected) -> None:
    """Last, as it stops the cluster: its data directory is deleted and restored in place."""
    cluster = protected.cluster
    engine = protected.engine
    _insert(cluster, "shard_one", range(5000, 5010), "just before the loss")
    _insert(cluster, "shard_two", range(5000, 5003), "the neighbour, before the loss")
    expected = {
        database: cluster.execute(database, "SELECT id, body FROM note ORDER BY id")
        for database in ("shard_one", "shard_two")
    }
    [(segment,)] = cluster.execute("postgres", "SELECT pg_walfile_name(pg_switch_wal())")
    timeline = protected.repository(0) / "archive" / engine.stanzas[0].name / "15-1"
    assert _arrived(timeline, str(segment), 0)
    [(data_directory,)] = cluster.execute("postgres", "SELECT current_setting('data_directory')")
    steps: list[tuple[str, int, int]] = []
    with pytest.raises(RestoreError, match="is running: stop it"):
        engine.restore_in_place(None, lambda *step: steps.append(step))
    cluster.stop()
    [us_1, _] = engine.states()
    assert any("does not answer" in problem for problem in us_1.problems), us_1.problems
    assert us_1.last_full_backup is not None  # The repositories still tell what they hold.
    for entry in Path(str(data_directory)).iterdir():
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    engine.restore_in_place(None, lambda *step: steps.append(step))
    assert steps[-1][1:] == (1, 1)
    cluster.start()
    for database, rows in expected.items():
        assert cluster.execute(database, "SELECT id, body FROM note ORDER BY id") == rows
