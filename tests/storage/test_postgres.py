"""On PostgreSQL, row-level security holds each tenant to its rows, even for raw SQL.

Every test module run gets its own database and its own role names, dropped at the end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

import notes_service.models as notes_service
from issues_harness import tenant_keys
from notes_service.models import Note
from postgres_server import drop_databases_and_roles
from tenantry.cli.tenant_rows import tenant_tables
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.storage import Databases
from tenantry.platform.storage.move_fence import postgres_statements
from tenantry.platform.storage.postgres import (
    PostgresBackend,
    UnsafeServiceRoleError,
    check_service_role,
)
from tenantry.platform.storage.tenant_session import tenant_session
from tenantry.services.issues import store
from tenantry.services.issues.identifiers import parse_issue_ref
from tenantry.services.issues.models import SCHEMA as ISSUES_SCHEMA

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
SHARD = "eu-1"
TENANT_A = TenantContext("tenant-a", "a", "eu", SHARD, "active")
TENANT_B = TenantContext("tenant-b", "b", "eu", SHARD, "active")
SET_TENANT = text("SELECT set_config('tenantry.tenant_id', :tenant, true)")


@dataclass
class Pg:
    dsn: str
    prefix: str
    backend: PostgresBackend
    admin: Engine

    def backend_with(self, **kwargs: Any) -> PostgresBackend:
        return PostgresBackend({SHARD: self.dsn}, role_prefix=self.prefix, **kwargs)

    def login_role(self, name: str, attributes: str = "") -> str:
        role = f"{self.prefix}_{name}"
        with self.admin.begin() as c:
            c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN {attributes}')
        return role

    def engine_as(self, role: str, schema: str) -> Engine:
        return create_engine(
            f"{self.dsn.replace('postgres@', f'{role}@')}",
            poolclass=NullPool,
            connect_args={"options": f'-c search_path="{schema}"'},
        )


@pytest.fixture(scope="module")
def pg() -> Iterator[Pg]:
    tag = uuid.uuid4().hex[:12]
    database, prefix = f"tenantry_test_{tag}", f"tt{tag}"
    server = create_engine(f"{SERVER}/postgres", poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with server.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{database}"')
    dsn = f"{SERVER}/{database}"
    admin = create_engine(dsn, poolclass=NullPool)
    backend = PostgresBackend({SHARD: dsn}, role_prefix=prefix)
    try:
        for schema in [
            notes_service.schema("notes"),
            notes_service.schema("other"),
            ISSUES_SCHEMA,
        ]:
            backend.migrate(schema, SHARD)
        with admin.begin() as c:  # the administrator is a superuser: no policy applies to it
            for tenant in ("tenant-a", "tenant-b"):
                for n in range(3):
                    c.execute(
                        text("INSERT INTO notes.notes (tenant_id, id, text) VALUES (:t, :i, 'x')"),
                        {"t": tenant, "i": f"{tenant}-{n}"},
                    )
                c.execute(
                    text("INSERT INTO other.notes (tenant_id, id, text) VALUES (:t, 'o', 'x')"),
                    {"t": tenant},
                )
        yield Pg(dsn, prefix, backend, admin)
    finally:
        admin.dispose()
        server.dispose()
        drop_databases_and_roles([database], prefix)


@pytest.fixture(scope="module")
def notes(pg: Pg) -> Iterator[Engine]:
    engine = pg.backend.open(notes_service.SCHEMA, SHARD)
    yield engine
    engine.dispose()


def tenants_seen(engine: Engine, tenant: str | None) -> list[str]:
    with engine.begin() as c:
        if tenant is not None:
            c.execute(SET_TENANT, {"tenant": tenant})
        return list(c.exec_driver_sql("SELECT tenant_id FROM notes ORDER BY id").scalars())


def refused(engine: Engine, sql: str, tenant: str | None = "tenant-a") -> str:
    with pytest.raises(DBAPIError) as error, engine.begin() as c:
        if tenant is not None:
            c.execute(SET_TENANT, {"tenant": tenant})
        c.exec_driver_sql(sql)
    return str(error.value.orig)


def test_raw_sql_sees_only_the_current_tenants_rows(notes: Engine) -> None:
    assert tenants_seen(notes, "tenant-a") == ["tenant-a"] * 3
    assert tenants_seen(notes, "tenant-b") == ["tenant-b"] * 3
    assert tenants_seen(notes, None) == []
    assert tenants_seen(notes, "") == []
    assert tenants_seen(notes, "tenant-c") == []


def test_writes_past_the_tenant_are_refused_or_reach_nothing(notes: Engine) -> None:
    message = refused(notes, "INSERT INTO notes VALUES ('tenant-b', 'planted', 'x')")
    assert "row-level security" in message
    message = refused(notes, "INSERT INTO notes VALUES ('tenant-a', 'n', 'x')", tenant=None)
    assert "row-level security" in message
    message = refused(notes, "UPDATE notes SET tenant_id = 'tenant-b'")
    assert "row-level security" in message
    with notes.begin() as c:
        c.execute(SET_TENANT, {"tenant": "tenant-a"})
        assert (
            c.exec_driver_sql("UPDATE notes SET text = 'y' WHERE tenant_id = 'tenant-b'").rowcount
            == 0
        )
        assert c.exec_driver_sql("DELETE FROM notes").rowcount == 3
        c.rollback()
    assert tenants_seen(notes, "tenant-b") == ["tenant-b"] * 3
    assert tenants_seen(notes, "tenant-a") == ["tenant-a"] * 3


def test_service_role_cannot_reach_another_service_or_change_its_own_rules(
    notes: Engine,
) -> None:
    assert "permission denied for schema other" in refused(notes, "SELECT * FROM other.notes")
    assert "must be owner" in refused(notes, "ALTER TABLE notes DISABLE ROW LEVEL SECURITY")
    assert "must be owner" in refused(notes, "DROP POLICY tenant_isolation ON notes")
    assert "permission denied" in refused(notes, "CREATE TABLE notes.planted (x int)")
    assert "permission denied" in refused(notes, "TRUNCATE notes")
    assert "permission denied" in refused(notes, "SET ROLE postgres")


def test_a_pooled_connection_never_carries_a_tenant_into_the_next_transaction(
    pg: Pg,
) -> None:
    engine = pg.backend_with(pool_size=1, max_overflow=0).engine("notes", SHARD)
    count = text("SELECT count(*), count(DISTINCT tenant_id), min(tenant_id) FROM notes")
    pids: set[int] = set()
    try:
        for n in range(10_000):
            tenant = ("tenant-a", "tenant-b")[n % 2]
            with engine.begin() as c:
                if n % 100 == 99:  # a transaction that names no tenant sees nothing
                    assert c.execute(count).one() == (0, 0, None)
                    continue
                c.execute(SET_TENANT, {"tenant": tenant})
                assert c.execute(count).one() == (3, 1, tenant)
                if n % 1000 == 0:
                    pids.add(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    finally:
        engine.dispose()
    assert len(pids) == 1


def test_a_pool_size_of_zero_keeps_no_connection_open_and_still_scopes_each_tenant(
    pg: Pg,
) -> None:
    engine = pg.backend_with(pool_size=0).engine("notes", SHARD)
    count = text("SELECT count(*), min(tenant_id) FROM notes")
    still_open = text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)")
    pids: set[int] = set()
    try:
        for tenant in ("tenant-a", "tenant-b", "tenant-a"):
            with engine.begin() as c:
                c.execute(SET_TENANT, {"tenant": tenant})
                assert c.execute(count).one() == (3, tenant)
                pids.add(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            with engine.begin() as c:  # a fresh connection: no tenant carried over
                assert c.execute(count).one() == (0, None)
        # A closed connection's server process leaves pg_stat_activity a moment after it.
        deadline = time.monotonic() + 10
        while True:
            with pg.admin.connect() as admin:  # a fresh transaction: a fresh statistics snapshot
                if admin.execute(still_open, {"pids": sorted(pids)}).scalar_one() == 0:
                    break
            assert time.monotonic() < deadline, "connections stayed open"
            time.sleep(0.05)
    finally:
        engine.dispose()
    assert len(pids) == 3  # every transaction had a connection of its own


def test_start_up_check_refuses_a_superuser(pg: Pg) -> None:
    engine = pg.engine_as("postgres", "notes")
    with pytest.raises(UnsafeServiceRoleError, match=r"is a superuser.*NOSUPERUSER"):
        check_service_role(engine)


def test_start_up_check_refuses_a_bypassrls_role(pg: Pg) -> None:
    role = pg.login_role("bypass", "BYPASSRLS")
    with pytest.raises(UnsafeServiceRoleError, match=r"has BYPASSRLS.*NOBYPASSRLS"):
        check_service_role(pg.engine_as(role, "notes"))


def test_start_up_check_refuses_a_role_owning_its_tables(pg: Pg) -> None:
    role = pg.login_role("owning")
    schema = f"{pg.prefix}_owning"
    with pg.admin.begin() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        c.exec_driver_sql(f'CREATE TABLE "{schema}".t (tenant_id text)')
        c.exec_driver_sql(f'ALTER TABLE "{schema}".t OWNER TO "{role}"')
    with pytest.raises(UnsafeServiceRoleError, match=r"owns .*\.t, .*OWNER TO"):
        check_service_role(pg.engine_as(role, schema))


def test_start_up_check_refuses_a_member_of_the_owner_role(pg: Pg) -> None:
    role = pg.login_role("member", f'IN ROLE "{pg.backend.owner_role("notes")}"')
    with pytest.raises(UnsafeServiceRoleError, match=r"notes\.notes.*revoke"):
        check_service_role(pg.engine_as(role, "notes"))


def test_start_up_check_refuses_a_missing_schema(pg: Pg) -> None:
    pg.login_role("absent")  # the role exists, its schema was never provisioned
    with pytest.raises(UnsafeServiceRoleError, match="tenantry migrate"):
        pg.backend.engine("absent", SHARD)


def test_provisioning_again_changes_nothing(pg: Pg, notes: Engine) -> None:
    pg.backend.migrate(notes_service.SCHEMA, SHARD)
    with pg.admin.connect() as c:
        policies = c.exec_driver_sql(
            "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'notes'"
        ).all()
        owner, forced = c.exec_driver_sql(
            "SELECT pg_get_userbyid(relowner), relforcerowsecurity FROM pg_class"
            " WHERE oid = 'notes.notes'::regclass"
        ).one()
        service = c.exec_driver_sql(
            "SELECT rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %(r)s",
            {"r": pg.backend.service_role("notes")},
        ).one()
    assert sorted(policies) == [("notes", "tenant_isolation"), ("tags", "tenant_isolation")]
    assert (owner, forced) == (pg.backend.owner_role("notes"), True)
    assert tuple(service) == (True, False, False)
    check_service_role(notes)
    assert tenants_seen(notes, "tenant-a") == ["tenant-a"] * 3


def test_engines_never_carry_the_administrators_password() -> None:
    backend = PostgresBackend(
        {SHARD: "postgresql://admin:admin-secret@db.internal:5433/shard1"},
        role_prefix="tenantry",
        passwords={"issues": "issues-secret"},
    )
    url = backend.url("issues", SHARD)
    assert (url.drivername, url.username, url.password) == (
        "postgresql+psycopg",
        "tenantry_issues",
        "issues-secret",
    )
    assert (url.host, url.port, url.database) == ("db.internal", 5433, "shard1")
    assert backend.url("pages", SHARD).password is None
    with pytest.raises(ValueError, match="invalid service name"):
        backend.url('x"; DROP', SHARD)
    with pytest.raises(KeyError, match="eu-9"):
        backend.url("issues", "eu-9")


def test_tenant_session_names_its_tenant_in_every_transaction(pg: Pg, notes: Engine) -> None:
    with tenant_scope(TENANT_A), tenant_session(notes) as s:
        s.add(Note(id="first", text="1"))
        s.commit()  # the block goes on in a new transaction, which must name the tenant again
        s.add(Note(id="second", text="2"))
        s.flush()
        s.rollback()
        s.add(Note(id="third", text="3"))
    with tenant_scope(TENANT_A), tenant_session(notes) as s:
        ids = s.scalars(select(Note.id).order_by(Note.id)).all()
    assert [i for i in ids if not i.startswith("tenant-")] == ["first", "third"]
    with pg.admin.begin() as c:
        c.exec_driver_sql("DELETE FROM notes.notes WHERE id IN ('first', 'third')")


def test_issues_store_end_to_end_on_postgres(pg: Pg) -> None:
    databases = Databases(ISSUES_SCHEMA, pg.backend)
    try:
        with tenant_scope(TENANT_A):
            with databases.session() as s:
                store.create_project(s, tenant_keys(), "OPS", "Operations")
                made = store.create_issue(
                    s,
                    tenant_keys(),
                    project="OPS",
                    summary="disk full",
                    description="d",
                    reporter="r",
                    labels=["infra"],
                )
            with databases.session() as s:
                found = store.find_issue(s, tenant_keys(), parse_issue_ref("OPS-1"))
        assert (made.key, found.id, found.summary, found.labels) == (
            "OPS-1",
            made.id,
            "disk full",
            ["infra"],
        )
        with tenant_scope(TENANT_B), databases.session() as s:
            for ref in ("OPS-1", made.id):
                with pytest.raises(ApiError) as missing:
                    store.find_issue(s, tenant_keys(), parse_issue_ref(ref))
                assert (missing.value.status, missing.value.code) == (404, "issue_not_found")
        with pg.admin.connect() as c:
            stored = c.exec_driver_sql("SELECT tenant_id, number FROM issues.issues").all()
        assert stored == [("tenant-a", 1)]
    finally:
        databases.dispose()


def test_the_move_fence_freezes_one_tenant_and_its_service_cannot_lift_it(pg: Pg) -> None:
    with pg.admin.begin() as c:
        c.exec_driver_sql(f'SET LOCAL ROLE "{pg.backend.owner_role("issues")}"')
        role = pg.backend.service_role("issues")
        for statement in postgres_statements("issues", tenant_tables(ISSUES_SCHEMA), role):
            c.exec_driver_sql(statement)
        c.exec_driver_sql("RESET ROLE")  # the administrator, whom no policy binds, as the mover
        c.exec_driver_sql("INSERT INTO issues.tenantry_moves VALUES ('tenant-a', 'm', 'capturing')")
    databases = Databases(ISSUES_SCHEMA, pg.backend)
    service = pg.backend.engine("issues", SHARD)
    try:
        with tenant_scope(TENANT_A), databases.session() as s:
            store.create_project(s, tenant_keys(), "CAP", "captured")
        with pg.admin.connect() as c:
            captured = c.exec_driver_sql(
                "SELECT tenant_id, table_name, row_key FROM issues.tenantry_move_changes"
            ).all()
        assert captured == [("tenant-a", "projects", '["tenant-a", "CAP"]')]
        with pg.admin.begin() as c:
            c.exec_driver_sql("UPDATE issues.tenantry_moves SET state = 'frozen'")
        with pytest.raises(ApiError) as frozen, tenant_scope(TENANT_A), databases.session() as s:
            store.create_project(s, tenant_keys(), "NEW", "refused")
        assert (frozen.value.status, frozen.value.code) == (503, "tenant_moving")
        with tenant_scope(TENANT_B), databases.session() as s:
            store.create_project(s, tenant_keys(), "THEIRS", "the neighbour writes on")
        for attack in (
            "UPDATE tenantry_moves SET state = 'capturing'",
            "DELETE FROM tenantry_moves",
            "DELETE FROM tenantry_move_changes",
        ):
            assert "permission denied" in refused(service, attack)
    finally:
        databases.dispose()
        service.dispose()
