"""A whole cloud on PostgreSQL through `tenantry up --config`: one database per shard, RLS on.

`up` creates the databases the topology names and migrates every service; the services run
as their own roles. The module uses fresh database names and its own role prefix, and drops
both at the end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from postgres_server import SERVER, drop_databases_and_roles

from .api import Site, signup, work_on_issues
from .cloud import Cloud, tenantry

SHARDS = {"us": ("us-1", "us-2"), "eu": ("eu-1", "eu-2")}
SET_TENANT = text("SELECT set_config('tenantry.tenant_id', :tenant, true)")


@dataclass
class PgCloud:
    cloud: Cloud
    prefix: str
    databases: dict[str, str]  # shard (or "global") -> database name

    def admin(self, shard: str) -> Engine:
        return _engine(f"{SERVER}/{self.databases[shard]}")

    def as_role(self, role: str, shard: str) -> Engine:
        return _engine(f"postgresql://{role}@127.0.0.1:5432/{self.databases[shard]}")


def _engine(dsn: str) -> Engine:
    return create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"), poolclass=NullPool)


def _topology(databases: dict[str, str], prefix: str) -> str:
    lines = [f'[global]\ndsn = "{SERVER}/{databases["global"]}"\n']
    lines.append(f'[postgres]\nrole_prefix = "{prefix}"\n')
    for region, shards in SHARDS.items():
        zones = [f"{region}-a", f"{region}-b"]
        entries = ", ".join(
            f'{{ name = "{shard}", zone = "{zone}", dsn = "{SERVER}/{databases[shard]}" }}'
            for shard, zone in zip(shards, zones, strict=True)
        )
        lines.append(f"[regions.{region}]\nzones = {zones!r}\nshards = [{entries}]\n")
    lines.append('[placement]\ndefault_region = "us"\n[placement.countries]\nDE = "eu"\n')
    return "\n".join(lines)


@pytest.fixture(scope="module")
def pg_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCloud]:
    tag = uuid.uuid4().hex[:10]
    prefix = f"te{tag}"
    shards = ["global", *(s for group in SHARDS.values() for s in group)]
    databases = {s: f"tenantry_e2e_{tag}_{s.replace('-', '_')}" for s in shards}
    root = tmp_path_factory.mktemp("pgcloud")
    config = root / "topology.toml"
    config.write_text(_topology(databases, prefix))
    try:
        cloud = Cloud.start(root / "data", config=config, backups=True)
        try:
            yield PgCloud(cloud, prefix, databases)
        finally:
            cloud.stop()
    finally:
        drop_databases_and_roles(list(databases.values()), prefix)


def _shard_of(pg: PgCloud, site: Site) -> str:
    with pg.admin("global").connect() as c:
        shard: str = c.execute(
            text("SELECT shard FROM tcs.tenants WHERE cloud_id = :id"), {"id": site.cloud_id}
        ).scalar_one()
    return shard


COUNT_ROWS = {
    "issues": text("SELECT count(*) FROM issues.issues WHERE tenant_id = :t"),
    "comments": text("SELECT count(*) FROM issues.comments WHERE tenant_id = :t"),
}


def _rows(engine: Engine, table: str, tenant: str) -> int:
    with engine.connect() as c:
        count: int = c.execute(COUNT_ROWS[table], {"t": tenant}).scalar_one()
    return count


def test_the_issue_lifecycle_lands_in_the_shard_database_of_the_tenants_region(
    pg_cloud: PgCloud,
) -> None:
    site = signup(pg_cloud.cloud, users={"DE": 5}, via="us", prefix="pg")
    assert site.region == "eu"
    work_on_issues(site.via(pg_cloud.cloud.http("eu")))

    home = _shard_of(pg_cloud, site)
    assert home in SHARDS["eu"]
    for shard in (s for group in SHARDS.values() for s in group):
        engine = pg_cloud.admin(shard)
        try:
            expected = 1 if shard == home else 0
            assert _rows(engine, "issues", site.cloud_id) == expected, shard
            assert _rows(engine, "comments", site.cloud_id) == expected, shard
        finally:
            engine.dispose()
    with pg_cloud.admin("global").connect() as c:
        accounts = c.execute(
            text("SELECT count(*) FROM identity.accounts WHERE tenant_id = :t"),
            {"t": site.cloud_id},
        ).scalar_one()
    assert accounts == 1
    # Nothing went to SQLite files.
    assert not list((pg_cloud.cloud.data_dir).glob("**/issues.sqlite"))
    assert not list((pg_cloud.cloud.data_dir).glob("**/tcs.sqlite"))


def test_the_issues_service_role_cannot_read_past_row_level_security(pg_cloud: PgCloud) -> None:
    site = signup(pg_cloud.cloud, region="eu", via="eu", prefix="rls")
    work_on_issues(site)
    shard = _shard_of(pg_cloud, site)
    role = f"{pg_cloud.prefix}_issues"
    engine = pg_cloud.as_role(role, shard)
    try:
        with engine.begin() as c:  # no tenant set: no rows at all
            assert c.exec_driver_sql("SELECT count(*) FROM issues.issues").scalar_one() == 0
        with engine.begin() as c:  # another tenant: none of this tenant's rows
            c.execute(SET_TENANT, {"tenant": "someone-else"})
            assert c.exec_driver_sql("SELECT count(*) FROM issues.issues").scalar_one() == 0
        with engine.begin() as c:  # the tenant itself: its rows
            c.execute(SET_TENANT, {"tenant": site.cloud_id})
            assert c.exec_driver_sql("SELECT count(*) FROM issues.issues").scalar_one() == 1
        attacks = [
            "SET row_security = off; SELECT count(*) FROM issues.issues",
            "ALTER TABLE issues.issues DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE issues.issues NO FORCE ROW LEVEL SECURITY",
            "DROP POLICY tenant_isolation ON issues.issues",
            f'SET ROLE "{pg_cloud.prefix}_owner_issues"',
            "CREATE TABLE issues.copy AS SELECT * FROM issues.issues",
        ]
        for attack in attacks:
            with engine.connect() as c, pytest.raises(DBAPIError):
                for statement in attack.split("; "):
                    c.exec_driver_sql(statement)
        with engine.begin() as c:  # another tenant's rows cannot be changed: they are not there
            c.execute(SET_TENANT, {"tenant": "someone-else"})
            changed = c.execute(
                text("UPDATE issues.issues SET summary = 'x' WHERE tenant_id = :t"),
                {"t": site.cloud_id},
            )
            assert changed.rowcount == 0
        with engine.connect() as c, pytest.raises(DBAPIError, match="row-level security"):
            c.execute(SET_TENANT, {"tenant": "someone-else"})
            c.execute(
                text(
                    "INSERT INTO issues.projects (tenant_id, key, name, last_number, created_at)"
                    " VALUES (:t, 'X', 'x', 0, now())"
                ),
                {"t": site.cloud_id},
            )
    finally:
        engine.dispose()


def test_the_service_roles_are_not_superusers_and_own_nothing(pg_cloud: PgCloud) -> None:
    with pg_cloud.admin("global").connect() as c:
        rows = c.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin FROM pg_roles"
                " WHERE starts_with(rolname, :p) ORDER BY rolname"
            ),
            {"p": pg_cloud.prefix},
        ).all()
    by_name = {row.rolname: row for row in rows}
    p = pg_cloud.prefix
    for service in ("identity", "tcs", "issues"):
        login, owner = by_name[f"{p}_{service}"], by_name[f"{p}_owner_{service}"]
        assert login.rolcanlogin and not login.rolsuper and not login.rolbypassrls
        assert not owner.rolcanlogin


def test_up_fails_clearly_when_postgresql_is_unreachable(tmp_path: Path) -> None:
    databases = {s: "tenantry_unreachable" for group in SHARDS.values() for s in group}
    databases["global"] = "tenantry_unreachable"
    config = tmp_path / "topology.toml"
    config.write_text(_topology(databases, "tenantry").replace(":5432/", ":1/"))
    result = tenantry("up", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "database set-up failed" in result.stderr
    assert "cannot connect" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_up_fails_clearly_when_the_database_is_missing_and_cannot_be_created(
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:10]
    role, database = f"te{tag}_nocreate", f"tenantry_e2e_{tag}_missing"
    server = _engine(f"{SERVER}/postgres")
    with server.begin() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN NOCREATEDB NOSUPERUSER')
    try:
        databases = {s: database for group in SHARDS.values() for s in group}
        databases["global"] = database
        config = tmp_path / "topology.toml"
        config.write_text(
            _topology(databases, f"te{tag}").replace("postgres@127.0.0.1", f"{role}@127.0.0.1")
        )
        result = tenantry("up", "--data-dir", str(tmp_path / "data"), "--config", str(config))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "does not exist" in result.stderr
        assert "may not create it" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        drop_databases_and_roles([database], f"te{tag}")
        server.dispose()


def test_up_refuses_a_topology_that_mixes_postgresql_and_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "topology.toml"
    config.write_text(
        "[regions.us]\nzones = ['a']\n"
        f"shards = [{{ name = 'us-1', zone = 'a', dsn = '{SERVER}/x' }}, "
        "{ name = 'us-2', zone = 'a' }]\n"
    )
    result = tenantry("up", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert result.returncode == 2
    assert "missing for" in result.stderr and "Traceback" not in result.stderr


def test_backup_status_says_plainly_why_shards_on_the_shared_server_are_unprotected(
    pg_cloud: PgCloud,
) -> None:
    # The shared server keeps archive_mode off and is never reconfigured: every shard on it is
    # reported unprotected, with the setting it lacks, and the regions beside the one whose
    # backup service protects the server are told their backups would leave their region.
    done = tenantry("backup", "status", "--json", "--data-dir", str(pg_cloud.cloud.data_dir))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = json.loads(done.stdout)
    assert {row["shard"] for row in rows} == {"global", *(s for g in SHARDS.values() for s in g)}
    for row in rows:
        assert row["tool"] == "pgbackrest"
        assert any("set archive_mode = on" in p for p in row["problems"]), row
        shared = any("also holds databases of us" in p for p in row["problems"])
        assert shared == (row["region"] == "eu"), row
