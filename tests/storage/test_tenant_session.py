"""The tenant session keeps every tenant inside its own rows, whatever the calling code tries."""

from __future__ import annotations

import asyncio
import contextvars
import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Engine,
    bindparam,
    column,
    delete,
    event,
    exists,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy.orm import aliased

from notes_service.models import SCHEMA, Note, Tag
from tenantry.platform.context import (
    MissingTenantError,
    TenantContext,
    current_tenant,
    require_tenant,
    tenant_scope,
)
from tenantry.platform.storage import (
    CrossTenantError,
    Databases,
    RawSqlError,
    SqliteBackend,
    TenantOwned,
)
from tenantry.platform.storage.sqlite import SYNCHRONOUS_ENV
from tenantry.platform.storage.tenant_session import TENANT_PARAM, tenant_session

A = TenantContext(cloud_id="tenant-a", site="a", region="eu", shard="eu-1", status="active")
B = TenantContext(cloud_id="tenant-b", site="b", region="eu", shard="eu-1", status="active")
C = TenantContext(cloud_id="tenant-c", site="c", region="eu", shard="eu-2", status="active")


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    dbs = Databases(SCHEMA, SqliteBackend(tmp_path / "data"))
    yield dbs
    dbs.dispose()


@pytest.fixture
def engine(databases: Databases) -> Engine:
    """Shard eu-1 holding two notes (one tagged) for each of tenants A and B."""
    engine = databases.engine_for("eu-1")
    for tenant in (A, B):
        with tenant_scope(tenant), tenant_session(engine) as s:
            s.add_all(
                [Note(id=f"{tenant.site}1", text="one"), Note(id=f"{tenant.site}2", text="two")]
            )
            s.add(Tag(id=f"{tenant.site}t", note_id=f"{tenant.site}1", name="red"))
    return engine


def note_ids(engine: Engine, tenant: TenantContext) -> list[str]:
    with tenant_scope(tenant), tenant_session(engine) as s:
        return sorted(s.scalars(select(Note.id)))


# --- tables ---------------------------------------------------------------------------------


def test_tenant_id_leads_every_primary_key() -> None:
    for model in (Note, Tag):
        assert model.__table__.primary_key.columns.keys() == ["tenant_id", "id"]
        assert model.__table__.c.keys()[0] == "tenant_id"


# --- reads ----------------------------------------------------------------------------------


def test_select_sees_only_own_rows(engine: Engine) -> None:
    assert note_ids(engine, A) == ["a1", "a2"]
    assert note_ids(engine, B) == ["b1", "b2"]


def test_get_by_other_tenants_primary_key_finds_nothing(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        assert s.get(Note, ("tenant-b", "b1")) is None
        assert s.get(Note, ("tenant-a", "a1")) is not None


def test_aliases_joins_subqueries_and_counts_are_scoped(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        other = aliased(Note)
        assert s.scalar(select(func.count()).select_from(Note)) == 2
        assert s.scalars(select(other.id).where(other.id == "b1")).all() == []
        assert s.scalar(select(exists(select(other.id).where(other.id == "b1")))) is False
        assert s.scalar(select(Note.id).where(Note.id == "a1").exists().select()) is True
        joined = s.execute(select(Tag.id, Note.id).join(Note, Tag.note)).all()
        assert joined == [("at", "a1")]
        assert s.scalars(select(Note.id).where(Note.tags.any(Tag.name == "red"))).all() == ["a1"]
        assert s.scalars(select(Tag.id).where(Tag.note.has(Note.text == "one"))).all() == ["at"]
        sub = select(Note.id).where(Note.text == "one").scalar_subquery()
        assert s.scalars(select(Tag.id).where(Tag.note_id.in_(select(sub)))).all() == ["at"]
        assert s.scalars(select(Note.id).where(Note.id.in_(["a1", "b1"]))).all() == ["a1"]


def test_relationship_loads_are_scoped(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        note = s.get(Note, ("tenant-a", "a1"))
        assert note is not None
        assert [t.id for t in note.tags] == ["at"]


# --- writes ---------------------------------------------------------------------------------


def test_update_and_delete_of_other_tenants_rows_affect_nothing(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        changed = s.execute(update(Note).where(Note.id == "b1").values(text="pwned"))
        assert changed.rowcount == 0  # type: ignore[attr-defined]
        everything = s.execute(update(Note).values(text="mine"))
        assert everything.rowcount == 2  # type: ignore[attr-defined]
        s.execute(delete(Tag))
        gone = s.execute(delete(Note).where(Note.id.in_(["b1", "b2"])))
        assert gone.rowcount == 0  # type: ignore[attr-defined]
    with tenant_scope(B), tenant_session(engine) as s:
        assert sorted(s.scalars(select(Note.text))) == ["one", "two"]
        assert s.scalars(select(Tag.id)).all() == ["bt"]


def test_new_objects_get_the_context_tenant(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        note = Note(id="a3", text="three")
        s.add(note)
    assert note.tenant_id == "tenant-a"
    assert "a3" in note_ids(engine, A)
    assert "a3" not in note_ids(engine, B)


def test_inserting_an_object_claiming_another_tenant_is_refused(engine: Engine) -> None:
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.add(Note(tenant_id="tenant-b", id="planted", text="x"))
    assert "planted" not in note_ids(engine, B)


def test_moving_a_row_to_another_tenant_is_refused(engine: Engine) -> None:
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        note = s.get(Note, ("tenant-a", "a2"))
        assert note is not None
        note.tenant_id = "tenant-b"
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(update(Note).where(Note.id == "a2").values({Note.tenant_id: "tenant-b"}))
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(update(Note).where(Note.id == "a2").values(tenant_id="tenant-b"))
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(update(Note).where(Note.id == "a2"), {"tenant_id": "tenant-b"})
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(update(Note).ordered_values((Note.tenant_id, "tenant-b"), (Note.text, "x")))
    assert note_ids(engine, A) == ["a1", "a2"]
    assert note_ids(engine, B) == ["b1", "b2"]


def test_merge_cannot_overwrite_another_tenants_row(engine: Engine) -> None:
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.merge(Note(tenant_id="tenant-b", id="b1", text="overwritten"))
    with tenant_scope(B), tenant_session(engine) as s:
        assert s.get(Note, ("tenant-b", "b1")).text == "one"  # type: ignore[union-attr]


def test_bulk_statements_are_refused(engine: Engine) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(insert(Note).values(tenant_id="tenant-b", id="bulk", text="x"))
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(insert(Note), [{"id": "bulk", "text": "x"}])
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(update(Note), [{"tenant_id": "tenant-b", "id": "b1", "text": "x"}])
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.bulk_save_objects([Note(tenant_id="tenant-b", id="bulk", text="x")])
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.bulk_insert_mappings(Note, [{"tenant_id": "tenant-b", "id": "bulk", "text": "x"}])
    assert "bulk" not in note_ids(engine, B)


def test_commit_on_success_and_rollback_on_error(engine: Engine) -> None:
    with pytest.raises(KeyError), tenant_scope(A), tenant_session(engine) as s:
        s.add(Note(id="lost", text="x"))
        s.flush()
        raise KeyError("boom")
    assert "lost" not in note_ids(engine, A)


# --- no tenant, wrong tenant ------------------------------------------------------------------


def test_no_tenant_means_no_session(databases: Databases, engine: Engine) -> None:
    assert current_tenant.get() is None
    with pytest.raises(MissingTenantError):
        databases.session()
    with pytest.raises(MissingTenantError):
        databases.global_session()
    with pytest.raises(MissingTenantError), tenant_session(engine):
        pass


def test_statement_after_the_tenant_left_the_context_is_refused(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        failures: list[BaseException] = []

        def outside() -> None:
            try:
                s.scalars(select(Note.id)).all()
            except BaseException as exc:
                failures.append(exc)

        worker = threading.Thread(target=outside)  # a bare thread starts with an empty context
        worker.start()
        worker.join()
        assert len(failures) == 1
        assert isinstance(failures[0], MissingTenantError)


def test_session_used_under_another_tenant_is_refused(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        with tenant_scope(B), pytest.raises(CrossTenantError):
            s.scalars(select(Note.id)).all()
        with tenant_scope(B), pytest.raises(CrossTenantError):
            s.add(Note(id="sneaky", text="x"))
            s.flush()
        s.expunge_all()
    assert "sneaky" not in note_ids(engine, A) + note_ids(engine, B)


# --- raw SQL --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(text("SELECT id FROM notes"), id="text"),
        pytest.param(text("DELETE FROM notes"), id="text-delete"),
        pytest.param(select(Note.__table__), id="core-table"),
        pytest.param(select(table("notes", column("id"))), id="lightweight-table"),
        pytest.param(Note.__table__.delete(), id="core-delete"),
        pytest.param(select(Note).from_statement(text("SELECT * FROM notes")), id="from-text"),
        pytest.param(select(Note).where(text("1 = 1")), id="text-fragment"),
        pytest.param(
            select(Tag.id, Note.__table__.c.text).join(
                Note.__table__, Tag.note_id == Note.__table__.c.id
            ),
            id="join-core-table",
        ),
        pytest.param(
            select(Tag.id, select(Note.__table__.c.text).scalar_subquery()),
            id="core-subquery",
        ),
        pytest.param(select(Note).from_statement(select(Note.__table__)), id="from-core"),
        pytest.param(select(exists().where(Note.id == "b1")), id="core-exists"),
        pytest.param(
            select(Note.id).where(
                exists(select(Note.__table__.c.id).where(Note.__table__.c.id == "b1"))
            ),
            id="core-key-in-subquery",
        ),
        pytest.param(
            select(Tag.id).join(Note.__table__, Tag.note_id == Note.__table__.c.id),
            id="join-core-by-key",
        ),
    ],
)
def test_sql_the_criteria_cannot_see_is_refused(engine: Engine, statement: object) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(statement)  # type: ignore[call-overload]
    assert note_ids(engine, B) == ["b1", "b2"]


def test_no_bare_connection_from_a_tenant_session(engine: Engine) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.connection()


# --- context propagation ----------------------------------------------------------------------


async def test_context_reaches_worker_threads(engine: Engine) -> None:
    with tenant_scope(A):
        assert await asyncio.to_thread(note_ids_here, engine) == ["a1", "a2"]


def note_ids_here(engine: Engine) -> list[str]:
    with tenant_session(engine) as s:
        return sorted(s.scalars(select(Note.id)))


async def test_context_never_leaks_between_concurrent_tasks(engine: Engine) -> None:
    started = asyncio.Event()
    seen: dict[str, list[str]] = {}

    async def run_as(tenant: TenantContext) -> None:
        with tenant_scope(tenant):
            if tenant is A:
                started.set()
            else:
                await started.wait()
            for _ in range(5):
                await asyncio.sleep(0)
                assert require_tenant() is tenant
            seen[tenant.site] = await asyncio.to_thread(note_ids_here, engine)

    async def no_tenant() -> None:
        await started.wait()
        await asyncio.sleep(0)
        with pytest.raises(MissingTenantError):
            require_tenant()

    await asyncio.gather(run_as(A), run_as(B), no_tenant())
    assert seen == {"a": ["a1", "a2"], "b": ["b1", "b2"]}
    assert current_tenant.get() is None


def test_pool_threads_keep_no_tenant_between_jobs(engine: Engine) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with tenant_scope(A):
            ctx = contextvars.copy_context()
        assert pool.submit(ctx.run, note_ids_here, engine).result() == ["a1", "a2"]
        with pytest.raises(MissingTenantError):
            pool.submit(note_ids_here, engine).result()


# --- databases and the SQLite backend ---------------------------------------------------------


def test_each_shard_is_its_own_database(databases: Databases, engine: Engine) -> None:
    with tenant_scope(C), databases.session() as s:
        assert s.scalars(select(Note.id)).all() == []
        s.add(Note(id="c1", text="x"))
    assert databases.engine_for("eu-2") is not engine
    assert note_ids(databases.engine_for("eu-2"), C) == ["c1"]
    with tenant_scope(A), databases.session() as s:
        assert sorted(s.scalars(select(Note.id))) == ["a1", "a2"]


def test_global_session_is_tenant_scoped_too(databases: Databases, tmp_path: Path) -> None:
    for tenant in (A, C):
        with tenant_scope(tenant), databases.global_session() as s:
            s.add(Note(id=f"{tenant.site}-g", text="x"))
    with tenant_scope(A), databases.global_session() as s:
        assert s.scalars(select(Note.id)).all() == ["a-g"]
    assert (tmp_path / "data" / "global" / "notes.sqlite").exists()


def test_engine_creation_is_thread_safe(databases: Databases) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        engines = list(pool.map(lambda _: databases.engine_for("eu-9"), range(32)))
    assert all(e is engines[0] for e in engines)


def test_files_are_private_and_pragmas_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SYNCHRONOUS_ENV, raising=False)  # the default, as a cloud runs it
    backend = SqliteBackend(tmp_path / "data")
    dbs = Databases(SCHEMA, backend)
    try:
        engine = dbs.engine_for("eu-1")
        with tenant_scope(A), tenant_session(engine) as s:
            s.add(Note(id="a1", text="x"))
        path = tmp_path / "data" / "shards" / "eu-1" / "notes.sqlite"
        assert backend.path("notes", "eu-1") == path
        for directory in (path.parent, path.parent.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for file in path.parent.iterdir():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL: an answered commit survives a power loss
            "foreign_keys": 1,
            "busy_timeout": 10_000,
        }
    finally:
        dbs.dispose()


@pytest.mark.parametrize(("asked", "level"), [("normal", 1), ("FULL", 2)])
def test_the_sync_level_can_be_lowered_for_a_throwaway_cloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str, level: int
) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, asked)
    dbs = Databases(SCHEMA, SqliteBackend(tmp_path / "data"))
    try:
        with dbs.engine_for("eu-1").connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        dbs.dispose()


def test_an_unknown_sync_level_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYNCHRONOUS_ENV, "off")
    with pytest.raises(ValueError, match="full or normal"):
        Databases(SCHEMA, SqliteBackend(tmp_path / "data")).engine_for("eu-1")


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), tenant_scope(A), tenant_session(engine) as s:
        s.add(Tag(id="orphan", note_id="b1", name="x"))  # b1 exists, but not for tenant A


@pytest.mark.parametrize("shard", ["../escape", "eu/1", "", "EU-1", ".hidden", "a" * 80])
def test_unsafe_shard_names_are_refused(tmp_path: Path, shard: str) -> None:
    backend = SqliteBackend(tmp_path / "data")
    with pytest.raises(ValueError):
        backend.engine("notes", shard)
    with pytest.raises(ValueError):
        Databases(SCHEMA, backend).engine_for(shard)
    assert not (tmp_path / "escape").exists()


def test_symlinked_database_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.sqlite"
    target.write_bytes(b"")
    shard_dir = tmp_path / "data" / "shards" / "eu-1"
    shard_dir.mkdir(parents=True)
    os.symlink(target, shard_dir / "notes.sqlite")
    with pytest.raises(OSError):
        SqliteBackend(tmp_path / "data").engine("notes", "eu-1")


# --- the row door: rows() and insert_rows() ---------------------------------------------------


def test_row_door_sees_and_changes_only_own_rows(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        assert sorted(s.rows(select(Note.id)).scalars()) == ["a1", "a2"]
        assert s.rows(select(Tag.id, Note.id).join(Note, Tag.note)).all() == [("at", "a1")]
        other = aliased(Note)
        assert s.rows(select(other.id).where(other.id == "b1")).all() == []
        assert s.rows(update(Note).where(Note.id == "b1").values(text="pwned")).rowcount == 0
        assert s.rows(update(Note).values(text="mine")).rowcount == 2
        s.rows(delete(Tag))
        assert s.rows(delete(Note).where(Note.id.in_(["b1", "b2"]))).rowcount == 0
    with tenant_scope(B), tenant_session(engine) as s:
        assert sorted(s.rows(select(Note.text)).scalars()) == ["one", "two"]
        assert s.rows(select(Tag.id)).scalars().all() == ["bt"]


@pytest.mark.parametrize(
    ("statement", "params", "error"),
    [
        pytest.param(text("SELECT id FROM notes"), None, RawSqlError, id="text"),
        pytest.param(select(Note.__table__), None, RawSqlError, id="core-table"),
        pytest.param(select(Note).where(text("1 = 1")), None, RawSqlError, id="text-fragment"),
        pytest.param(insert(Note).values(id="x", text="x"), None, RawSqlError, id="insert"),
        pytest.param(
            update(Note).values(tenant_id="tenant-b"), None, CrossTenantError, id="set-tenant"
        ),
        pytest.param(
            update(Note).where(Note.id == "a1"),
            {"tenant_id": "tenant-b"},
            CrossTenantError,
            id="set-tenant-by-param",
        ),
        pytest.param(
            select(Note.id, literal_column("(SELECT group_concat(text) FROM notes)")),
            None,
            RawSqlError,
            id="literal-column",
        ),
    ],
)
def test_row_door_refuses_what_the_criteria_cannot_scope(
    engine: Engine, statement: Any, params: Any, error: type[Exception]
) -> None:
    with pytest.raises(error), tenant_scope(A), tenant_session(engine) as s:
        s.rows(statement, params)
    assert note_ids(engine, B) == ["b1", "b2"]


def test_row_door_refuses_executemany(engine: Engine) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.rows(update(Note), [{"id": "b1", "text": "x"}])  # type: ignore[arg-type]


def test_insert_rows_fills_in_the_tenant(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        s.insert_rows(Note, [{"id": "a3", "text": "x"}, {"id": "a4", "text": "y"}])
        s.insert_rows(Note, [{"tenant_id": "tenant-a", "id": "a5", "text": "z"}])
        s.insert_rows(Note, [])
    assert note_ids(engine, A) == ["a1", "a2", "a3", "a4", "a5"]
    assert note_ids(engine, B) == ["b1", "b2"]


def test_insert_rows_naming_another_tenant_is_refused(engine: Engine) -> None:
    with pytest.raises(CrossTenantError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_rows(Note, [{"id": "a3", "text": "x"}, {"tenant_id": "tenant-b", "id": "p"}])
    with pytest.raises(TypeError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_rows(Note, [{Note.tenant_id: "tenant-b", "id": "p", "text": "x"}])  # type: ignore[dict-item]
    assert note_ids(engine, A) == ["a1", "a2"]
    assert note_ids(engine, B) == ["b1", "b2"]


def test_insert_rows_takes_only_tenant_owned_classes(engine: Engine) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_rows(TenantOwned, [{"id": "x"}])
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_rows(Note.__table__, [{"id": "x"}])  # type: ignore[arg-type]


def test_insert_untenanted_takes_no_tenant_owned_class(engine: Engine) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_untenanted(Note, {"id": "a3", "text": "x"})
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.insert_untenanted(Note.__table__, {"id": "a3"})  # type: ignore[arg-type]
    assert note_ids(engine, A) == ["a1", "a2"]


def test_row_door_needs_the_sessions_tenant_in_context(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        failures: list[BaseException] = []

        def outside() -> None:
            for attempt in (
                lambda: s.rows(select(Note.id)),
                lambda: s.insert_rows(Note, [{"id": "lost", "text": "x"}]),
            ):
                try:
                    attempt()
                except BaseException as exc:
                    failures.append(exc)

        worker = threading.Thread(target=outside)
        worker.start()
        worker.join()
        assert [type(f) for f in failures] == [MissingTenantError, MissingTenantError]
        with tenant_scope(B), pytest.raises(CrossTenantError):
            s.rows(select(Note.id))
        with tenant_scope(B), pytest.raises(CrossTenantError):
            s.insert_rows(Note, [{"id": "sneaky", "text": "x"}])
    assert "sneaky" not in note_ids(engine, A) + note_ids(engine, B)


def test_the_tenant_parameter_cannot_be_supplied_by_callers(engine: Engine) -> None:
    spoof = {TENANT_PARAM: "tenant-b"}
    with tenant_scope(A), tenant_session(engine) as s:
        assert sorted(s.rows(select(Note.id), spoof).scalars()) == ["a1", "a2"]
        assert sorted(s.scalars(select(Note.id), spoof)) == ["a1", "a2"]
        s.rows(update(Note).values(text="mine"), spoof)
    with tenant_scope(B), tenant_session(engine) as s:
        assert sorted(s.scalars(select(Note.text))) == ["one", "two"]


def test_both_doors_share_one_transaction(engine: Engine) -> None:
    with pytest.raises(KeyError), tenant_scope(A), tenant_session(engine) as s:
        s.add(Note(id="a3", text="x"))
        assert sorted(s.rows(select(Note.id)).scalars()) == ["a1", "a2", "a3"]  # autoflushed
        s.insert_rows(Note, [{"id": "a4", "text": "y"}])
        assert s.get(Note, ("tenant-a", "a4")) is not None
        raise KeyError("boom")
    assert note_ids(engine, A) == ["a1", "a2"]


def test_commit_and_rollback_inside_a_block(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        s.add(Note(id="a3", text="kept"))
        s.commit()
        s.insert_rows(Note, [{"id": "a4", "text": "discarded"}])
        s.add(Note(id="a5", text="discarded"))
        s.rollback()
        s.insert_rows(Note, [{"id": "a6", "text": "kept"}])
        s.add(Note(id="a7", text="kept"))
    assert note_ids(engine, A) == ["a1", "a2", "a3", "a6", "a7"]


# --- more raw SQL, and the cached safety check --------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(
            select(Note.id, literal_column("(SELECT group_concat(text) FROM notes)")),
            id="literal-column",
        ),
        pytest.param(
            update(Note).values(text=literal_column("(SELECT group_concat(text) FROM notes)")),
            id="literal-column-in-update",
        ),
        pytest.param(select(Note.text).suffix_with("UNION SELECT text FROM notes"), id="suffix"),
        pytest.param(select(Note.text).prefix_with("DISTINCT"), id="prefix"),
        pytest.param(select(Note.text).with_hint(Note, "INDEXED BY x"), id="hint"),
        pytest.param(
            select(Note.text).where(Note.id.op("IS NOT NULL OR 1 = 1 --")("x")),
            id="operator-with-comment",
        ),
        pytest.param(
            select(Note.id.op("|| (SELECT group_concat(text) FROM notes) ||")("x")),
            id="operator-with-query",
        ),
        pytest.param(
            select(Note.text).where(Note.id.op("UNION SELECT text FROM notes WHERE")("x")),
            id="operator-of-words",
        ),
    ],
)
def test_other_raw_sql_is_refused_on_both_doors(engine: Engine, statement: Any) -> None:
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.execute(statement)
    with pytest.raises(RawSqlError), tenant_scope(A), tenant_session(engine) as s:
        s.rows(statement)
    assert note_ids(engine, B) == ["b1", "b2"]
    with tenant_scope(B), tenant_session(engine) as s:
        assert sorted(s.scalars(select(Note.text))) == ["one", "two"]


def test_symbol_operators_counts_and_exists_still_work(engine: Engine) -> None:
    with tenant_scope(A), tenant_session(engine) as s:
        assert s.rows(select(Note.id).where(Note.text.op("||")("!") == "one!")).all() == [("a1",)]
        assert s.rows(select(func.count()).select_from(Note)).scalar() == 2
        assert s.rows(select(Note.id).where(Note.id == "b1").exists().select()).scalar() is False
        assert s.rows(select(Note.id).where(Note.tags.any(Tag.name == "red"))).all() == [("a1",)]


def test_a_refused_shape_stays_refused_after_similar_safe_ones(engine: Engine) -> None:
    safe = select(Note.id, Note.text).where(Note.id == "a1")
    unsafe = select(Note.id, Note.__table__.c.text).where(Note.id == "a1")
    for _ in range(2):
        with tenant_scope(A), tenant_session(engine) as s:
            assert s.execute(safe).all() == [("a1", "one")]
            assert s.rows(safe).all() == [("a1", "one")]
            with pytest.raises(RawSqlError):
                s.execute(unsafe)
            with pytest.raises(RawSqlError):
                s.rows(unsafe)


def test_one_compiled_statement_serves_every_tenant(engine: Engine) -> None:
    hits: list[bool] = []

    def record(
        _conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if "notes" in _sql:
            hits.append(context.cache_hit == context.dialect.CACHE_HIT)

    by_text = select(Note.id).where(Note.text == bindparam("wanted"))
    event.listen(engine, "after_cursor_execute", record)
    try:
        for tenant in (A, B, A):
            with tenant_scope(tenant), tenant_session(engine) as s:
                s.rows(by_text, {"wanted": "one"}).all()
                s.scalars(select(Note.id).where(Note.text == "one")).all()
                s.get(Note, (tenant.cloud_id, f"{tenant.site}2"))
    finally:
        event.remove(engine, "after_cursor_execute", record)
    assert len(hits) == 9
    assert all(hits[3:]), hits  # the second tenant compiles nothing
