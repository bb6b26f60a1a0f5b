"""`tenantry migrate`: every service database to its head revision, resumable after a failure."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from e2e.cloud import tenantry
from postgres_server import SERVER, drop_databases_and_roles, server_engine
from tenantry.cli.main import app
from tenantry.cli.migrate import SCHEMAS as MIGRATED_SCHEMAS
from tenantry.cli.migrate import MigrationFailed, migrate_cloud, targets
from tenantry.platform.storage import SchemaNotCurrentError, ServiceSchema, SqliteBackend
from tenantry.platform.storage.choose import postgres_backend
from tenantry.platform.storage.migrations import upgrade
from tenantry.platform.topology import Topology, load_topology
from tenantry.services.issues.models import SCHEMA as ISSUES_SCHEMA
from tenantry.services.registry import spec
from tenantry.services.tcs.catalog import SCHEMA as TCS_SCHEMA

SCHEMAS = list(MIGRATED_SCHEMAS.values())
"""Every registered service's schema, as `tenantry migrate` builds them."""
HEAD = {schema.service: schema.head for schema in SCHEMAS}


@contextlib.contextmanager
def new_pg_topology(folder: Path) -> Iterator[tuple[Path, list[str]]]:
    """A topology file for a region `a` with two shards, each on its own new database."""
    tag = uuid.uuid4().hex[:10]
    prefix, names = f"tp{tag}", [f"tenantry_mig_{tag}_{n}" for n in ("global", "a1", "a2")]
    path = folder / "topology.toml"
    path.write_text(
        f'[global]\ndsn = "{SERVER}/{names[0]}"\n[postgres]\nrole_prefix = "{prefix}"\n'
        '[regions.a]\nzones = ["a-a"]\n'
        f'shards = [{{ name = "a-1", zone = "a-a", dsn = "{SERVER}/{names[1]}" }},'
        f' {{ name = "a-2", zone = "a-a", dsn = "{SERVER}/{names[2]}" }}]\n'
    )
    try:
        yield path, names
    finally:
        drop_databases_and_roles(names, prefix)


@pytest.fixture
def pg_topology(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """A topology of new, empty databases, for the test to migrate."""
    with new_pg_topology(tmp_path) as topology:
        yield topology


@pytest.fixture(scope="module")
def migrated_pg_topology(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, list[str]]]:
    """A topology of databases `tenantry migrate` brought to head, for tests that only read
    them (migrating is the slow part, so they share it)."""
    folder = tmp_path_factory.mktemp("migrated")
    with new_pg_topology(folder) as (config, names):
        code, output = migrate(folder / "data", config)
        assert code == 0, output
        yield config, names


def migrate(data_dir: Path, config: Path | None = None, *more: str) -> tuple[int, str]:
    args = ["migrate", "--data-dir", str(data_dir), *more]
    if config is not None:
        args += ["--config", str(config)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def revisions(topology: Topology, data_dir: Path) -> dict[str, str | None]:
    backend = postgres_backend(topology) if topology.uses_postgres else SqliteBackend(data_dir)
    return {t.name: backend.revision(t.schema, t.shard) for t in targets(topology)}


def test_migrate_brings_every_database_to_head_then_skips_them(
    pg_topology: tuple[Path, list[str]], tmp_path: Path
) -> None:
    config, _ = pg_topology
    topology = load_topology(config)
    code, output = migrate(tmp_path / "data", config)
    assert code == 0, output
    assert "18 migrated, 0 already current, 0 failed" in output
    assert "issues on shard a-2: empty -> 0004" in output
    assert set(revisions(topology, tmp_path)) == {t.name for t in targets(topology)}
    assert all(r == HEAD[name.split()[0]] for name, r in revisions(topology, tmp_path).items())

    code, output = migrate(tmp_path / "data", config, "--jobs", "1")
    assert code == 0, output
    assert "0 migrated, 18 already current" in output

    backend = postgres_backend(topology)
    for target in targets(topology):  # every service opens: role safe, schema current
        backend.open(target.schema, target.shard).dispose()
    # tcs's catalog is a plain table: its role reads and writes it, serial numbers included...
    tcs = backend.open(TCS_SCHEMA, "global")
    try:
        with tcs.begin() as c:
            c.exec_driver_sql(
                "INSERT INTO tenants (cloud_id, site, region, shard, status, created_at)"
                " VALUES ('c1', 's1', 'a', 'a-1', 'active', 0)"
            )
            c.exec_driver_sql("INSERT INTO changes (cloud_id, site, at) VALUES ('c1', 's1', 0)")
            assert c.exec_driver_sql("SELECT count(*) FROM changes").scalar_one() == 1
        # ...but not identity's accounts next door, nor tables of its own, nor its revision.
        for statement in (
            "SELECT * FROM identity.accounts",
            "CREATE TABLE tcs.extra (x int)",
            "UPDATE tcs.alembic_version SET version_num = 'x'",
        ):
            with tcs.connect() as c, pytest.raises(DBAPIError, match="permission denied"):
                c.exec_driver_sql(statement)
    finally:
        tcs.dispose()


def test_a_failure_mid_way_stops_cleanly_and_the_next_run_repairs_it(
    pg_topology: tuple[Path, list[str]], tmp_path: Path
) -> None:
    config, names = pg_topology
    topology = load_topology(config)
    # Shard a-1's database holds a table where revision 0001 wants to create `comments`: the
    # revision fails after it has created `projects` and `issues`.
    server = server_engine()
    with server.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{names[1]}"')
    server.dispose()
    shard = create_engine(f"{SERVER}/{names[1]}".replace("://", "+psycopg://"), poolclass=NullPool)
    with shard.begin() as c:
        c.exec_driver_sql("CREATE SCHEMA issues")
        c.exec_driver_sql("CREATE TABLE issues.comments (blocker int)")

    code, output = migrate(tmp_path / "data", config, "--jobs", "1")
    assert code == 1
    assert "failed: issues on shard a-1" in output and "already exists" in output
    assert "resumes where it stopped" in output
    assert "Traceback" not in output
    after_failure = revisions(topology, tmp_path)
    assert after_failure["identity on the global database"] == HEAD["identity"]
    assert after_failure["issues on shard a-1"] is None
    assert after_failure["issues on shard a-2"] is None  # never started after the failure
    with shard.connect() as c:  # nothing of the failed revision was left behind
        tables = c.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'issues'"
        ).scalars()
        assert list(tables) == ["comments"]

    with shard.begin() as c:
        c.exec_driver_sql("DROP TABLE issues.comments")
    code, output = migrate(tmp_path / "data", config)
    assert code == 0, output
    assert "14 migrated, 4 already current, 0 failed" in output
    assert all(r == HEAD[name.split()[0]] for name, r in revisions(topology, tmp_path).items())
    shard.dispose()


def test_a_failure_on_a_sqlite_shard_rolls_back_and_is_repaired(tmp_path: Path) -> None:
    data = tmp_path / "data"
    blocked = SqliteBackend(data).path("issues", "eu-2")
    blocked.parent.mkdir(parents=True)
    with sqlite3.connect(blocked) as c:
        c.execute("CREATE TABLE comments (blocker int)")

    code, output = migrate(data, None, "--jobs", "2")
    assert code == 1
    assert "failed: issues on shard eu-2" in output
    with sqlite3.connect(blocked) as c:  # the revision's first tables were rolled back
        tables = [row[0] for row in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["comments"]

    with sqlite3.connect(blocked) as c:
        c.execute("DROP TABLE comments")
    code, output = migrate(data)
    assert code == 0, output
    assert "failed" not in output.replace("0 failed", "")
    assert all(r == HEAD[name.split()[0]] for name, r in revisions(load_topology(), data).items())


def test_a_service_refuses_a_schema_behind_its_code(
    pg_topology: tuple[Path, list[str]], tmp_path: Path
) -> None:
    config, names = pg_topology
    topology = load_topology(config)
    assert migrate(tmp_path / "data", config)[0] == 0
    admin = create_engine(f"{SERVER}/{names[2]}".replace("://", "+psycopg://"), poolclass=NullPool)
    with admin.begin() as c:
        c.exec_driver_sql("UPDATE issues.alembic_version SET version_num = '0000'")
    admin.dispose()
    with pytest.raises(SchemaNotCurrentError, match=r"at revision 0000.*run `tenantry migrate`"):
        postgres_backend(topology).open(ISSUES_SCHEMA, "a-2")


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: s.service)
def test_the_head_revision_builds_exactly_the_models(
    migrated_pg_topology: tuple[Path, list[str]], tmp_path: Path, schema: ServiceSchema
) -> None:
    """Revisions and models cannot drift apart: on both backends, head equals the models."""
    _config, names = migrated_pg_topology
    kept = spec(schema.service)
    on_shards_only = kept.shard_databases and not kept.global_database
    database = names[1] if on_shards_only else names[0]
    pg = create_engine(f"{SERVER}/{database}".replace("://", "+psycopg://"), poolclass=NullPool)
    sqlite_backend = SqliteBackend(tmp_path / "lite")
    sqlite_backend.migrate(schema, "global")
    lite = sqlite_backend.engine(schema.service, "global")
    try:
        for engine, version_schema in ((pg, schema.service), (lite, None)):
            with engine.connect() as c:
                if version_schema:
                    c.exec_driver_sql(f'SET search_path TO "{version_schema}"')
                context = MigrationContext.configure(
                    c, opts={"compare_type": True, "version_table_schema": version_schema}
                )
                drift = [
                    d
                    for d in compare_metadata(context, schema.metadata)
                    if not (d[0] == "remove_table" and d[1].name == "alembic_version")
                ]
                assert drift == [], engine.dialect.name
    finally:
        pg.dispose()
        lite.dispose()


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda schema: schema.service)
def test_a_new_sqlite_file_built_at_head_matches_one_built_by_every_revision(
    tmp_path: Path, schema: ServiceSchema
) -> None:
    """A new file gets the head schema in one step: the very tables, columns, defaults and
    indexes the revisions build one after another (in any column order), and the same revision
    recorded, so later revisions apply to it as to any other."""
    backend = SqliteBackend(tmp_path / "data")
    backend.migrate(schema, "eu-1")  # a new, empty file: built at head
    by_revisions = tmp_path / "by-revisions.sqlite"
    engine = create_engine(f"sqlite:///{by_revisions}", poolclass=NullPool)
    with engine.begin() as connection:
        upgrade(connection, schema)
    engine.dispose()
    at_head = backend.path(schema.service, "eu-1")
    assert sqlite_shape(at_head) == sqlite_shape(by_revisions)
    assert backend.revision(schema, "eu-1") == schema.head


def sqlite_shape(path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, not null, default, key) and indexes, and the
    recorded revision."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        shape: dict[str, Any] = {
            table: (
                sorted(row[1:] for row in db.execute(f"PRAGMA table_info('{table}')")),
                sorted(row[1:4] for row in db.execute(f"PRAGMA index_list('{table}')")),
            )
            for table in tables
        }
        shape["revision"] = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return shape


def test_an_unreachable_server_is_a_clear_failure(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    dsn = "postgresql://admin:s3cret@127.0.0.1:1"
    path.write_text(
        f'[global]\ndsn = "{dsn}/g"\n[regions.a]\nzones = ["a-a"]\n'
        f'shards = [{{ name = "a-1", zone = "a-a", dsn = "{dsn}/s" }}]\n'
    )
    started = time.monotonic()
    with pytest.raises(MigrationFailed, match="cannot connect to PostgreSQL database 'g'") as e:
        migrate_cloud(load_topology(path), tmp_path / "data")
    assert "s3cret" not in str(e.value)
    assert time.monotonic() - started < 15
    code, output = migrate(tmp_path / "data", path)
    assert code == 1 and "cannot connect" in output and "s3cret" not in output


def test_bad_arguments_are_refused_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[regions.a]\nzones = 3\n")
    for args in (("--jobs", "0"), ("--config", str(bad))):
        result = tenantry("migrate", "--data-dir", str(tmp_path / "data"), *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert "jobs" in tenantry("migrate", "--jobs", "0").stderr


def test_migrate_uses_the_topology_up_recorded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True)
    (data / "run" / "topology.toml").write_text(
        '[regions.x]\nzones = ["x-a"]\nshards = [{ name = "x-1", zone = "x-a" }]\n'
    )
    code, output = migrate(data)
    assert code == 0, output
    assert "issues on shard x-1: empty -> 0004" in output
    assert SqliteBackend(data).path("issues", "x-1").exists()
    assert not SqliteBackend(data).path("issues", "eu-1").exists()
