"""The only way handlers reach storage: a session that sees and writes one tenant's rows.

A `TenantSession` is bound to the tenant of the running request when it opens. From then on:

- every ORM SELECT, UPDATE and DELETE gets `tenant_id = <tenant>` for each `TenantOwned` entity
  it touches, in joins, aliases and subqueries too (SQLAlchemy's `with_loader_criteria`);
- new `TenantOwned` objects and rows get the tenant filled in, and a write that names another
  tenant (new, changed or deleted object, inserted row) is refused;
- anything the criteria cannot see is refused: raw `text()` SQL, `literal_column()`, custom
  operators spelled in words, statement prefixes/suffixes/hints, Core statements against `Table`
  objects, Core columns of tables inside ORM statements, INSERT statements and executemany
  UPDATE/DELETE, UPDATEs that set `tenant_id`, and `Session.connection()`;
- a statement issued while no tenant (or another tenant) is in context raises.

Two doors lead to the database, and both pass `_scope()`, the one place statements are scoped:
`execute()` and the rest of the ORM (objects, via the `do_orm_execute` event), and the row
door, `rows()` / `insert_rows()`, which skips the ORM's object layer for hot paths that need no
identity map. Both run in one transaction on one connection: a `tenant_session()` block.
On PostgreSQL each of the block's transactions also starts by naming the tenant to the
row-level security policies (`tenantry.platform.storage.postgres`), the backstop behind all this.

The tenant criteria are one shared option whose value travels as the bound parameter
`TENANT_PARAM`, so a statement compiles once for all tenants and SQLAlchemy's statement cache
hits. The search for parts the criteria cannot reach walks a statement once per cache key: two
statements with one cache key compile to the same SQL, so they are equally safe.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Insert,
    Join,
    Table,
    TableClause,
    TextClause,
    bindparam,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnClause
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.selectable import FromClause, ScalarSelect, Select, SelectBase

from tenantry.platform.context import MissingTenantError, current_tenant, require_tenant
from tenantry.platform.storage.model import TenantOwned
from tenantry.platform.storage.postgres import TENANT_SETTING

_TENANT_COLUMN = "tenant_id"

TENANT_PARAM = "tenantry_tenant_id"
"""The bound parameter that carries the session's tenant into the tenant criteria."""

_SAFE_CACHE_SIZE = 4096
_SYMBOL_OPERATOR = re.compile(r"[<>=!~@#%^&|*+?:-]{1,3}")


class TenantIsolationError(RuntimeError):
    """Raised when a storage operation would read or write past the current tenant's rows."""


class RawSqlError(TenantIsolationError):
    """Raised for SQL the tenant session cannot scope (text, Core tables, bulk statements)."""


class CrossTenantError(TenantIsolationError):
    """Raised when a write names another tenant, or the session is used under another tenant."""


class TenantSession(Session):
    """A SQLAlchemy session fixed to one tenant; see the module docstring for what it enforces."""

    def __init__(self, connection: Connection, tenant_id: str) -> None:
        # The session joins the transaction `tenant_session()` began on `connection` and never
        # ends it: the block is the transaction. Objects stay readable after the block ends.
        super().__init__(
            bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only"
        )
        self.tenant_id = tenant_id
        self._rows_connection = connection

    def check_context(self) -> None:
        """Refuse to work unless the running context is this session's tenant."""
        tenant = current_tenant.get()
        if tenant is None:
            raise MissingTenantError("no tenant context is set for this storage operation")
        if tenant.cloud_id != self.tenant_id:
            raise CrossTenantError("this session belongs to another tenant than the context")

    def rows(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        """Run an ORM SELECT, UPDATE or DELETE on this tenant's rows; answer plain rows.

        The statement is scoped exactly as `execute()` scopes it, but runs on the session's
        connection without building ORM objects: the cheap way for reads and writes that need
        no identity map. Pending ORM changes are flushed first, so both doors see one state.
        """
        scoped, values = _scope(
            self, statement, params, internal_load=False, mappers=_no_mappers, reuse=True
        )
        if self.autoflush:
            self.flush()
        return self._rows_connection.execute(scoped, values)

    def insert_rows(self, entity: type[TenantOwned], rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert rows of a `TenantOwned` class in one statement, each filled in with the tenant.

        Keys are the table's column names. A row that names another tenant is refused, as the
        flush refuses such an object; database defaults and constraints apply as usual.
        """
        self.check_context()
        tenant_id = self.tenant_id
        values: list[dict[str, Any]] = []
        for row in rows:
            if not all(isinstance(key, str) for key in row):
                raise TypeError("insert_rows() takes rows keyed by column name")
            if row.get(_TENANT_COLUMN, tenant_id) != tenant_id:
                raise CrossTenantError("a new row names another tenant")
            values.append({**row, _TENANT_COLUMN: tenant_id})
        if not values:
            return
        statement = _insert_statement(entity)
        if self.autoflush:
            self.flush()
        self._rows_connection.execute(statement, values[0] if len(values) == 1 else values)

    def insert_untenanted(self, entity: type[Any], row: Mapping[str, Any]) -> None:
        """Insert one row of a mapped class that is not tenant-owned, in this transaction.

        What `add()` of such an object does, without the unit of work's cost: for rows a hot
        path adds to every change, such as an outbox that names its tenant in a column of its
        own. A `TenantOwned` class is refused (`insert_rows()` fills in its tenant).
        """
        self.check_context()
        statement = _untenanted_inserts.get(entity)
        if statement is None:
            mapper = inspect(entity, raiseerr=False)
            if not isinstance(entity, type) or mapper is None or issubclass(entity, TenantOwned):
                raise RawSqlError("insert_untenanted() takes a mapped class not TenantOwned")
            table = mapper.local_table
            assert isinstance(table, Table)
            statement = _untenanted_inserts[entity] = table.insert()
        # No flush first: the row refers to nothing pending, and the block's end flushes.
        self._rows_connection.execute(statement, dict(row))

    def commit(self) -> None:
        """Flush and commit everything so far; the block goes on in a new transaction."""
        super().commit()
        self._rows_connection.commit()
        _begin(self._rows_connection, self.tenant_id)

    def rollback(self) -> None:
        """Discard everything since the last commit; the block goes on in a new transaction."""
        super().rollback()
        self._rows_connection.rollback()
        _begin(self._rows_connection, self.tenant_id)

    def connection(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: a bare connection would run SQL the tenant scoping never sees."""
        raise RawSqlError("a tenant session does not hand out connections; use ORM statements")

    def bulk_save_objects(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: legacy bulk writes skip the flush checks; use add_all()."""
        raise RawSqlError("bulk writes bypass tenant checks; use add_all()")

    def bulk_insert_mappings(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: legacy bulk writes skip the flush checks; use add_all()."""
        raise RawSqlError("bulk writes bypass tenant checks; use add_all()")

    def bulk_update_mappings(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: legacy bulk writes skip the flush checks; load and change objects instead."""
        raise RawSqlError("bulk writes bypass tenant checks; change loaded objects instead")


@contextlib.contextmanager
def tenant_session(engine: Engine) -> Iterator[TenantSession]:
    """Open a session for the current tenant: commit if the block succeeds, roll back if not.

    The block is one transaction on one pooled connection, which both doors of the session
    share; pending ORM changes are flushed (and checked) before the commit.
    """
    tenant_id = require_tenant().cloud_id
    with engine.connect() as connection:
        _begin(connection, tenant_id)
        session = TenantSession(connection, tenant_id)
        try:
            yield session
            session.flush()
            connection.commit()
        finally:
            if session.in_transaction() or session.identity_map or session.new:
                session.close()  # only the ORM door leaves anything to release
            # Nothing is left open after a commit; after an error, whatever is open goes.
            connection.rollback()


_SET_TENANT_SETTING = select(
    func.set_config(TENANT_SETTING, bindparam("tenantry_rls_tenant_id"), True)
)
"""`set_config(..., true)`: the SET LOCAL that ends with the transaction, whatever its outcome."""


def _begin(connection: Connection, tenant_id: str) -> None:
    """Begin the block's next transaction; on PostgreSQL, name its tenant to row-level security.

    The setting is transaction-local, so a pooled connection never carries one tenant into the
    next transaction, whoever runs it.
    """
    connection.begin()
    if connection.dialect.name == "postgresql":
        connection.execute(_SET_TENANT_SETTING, {"tenantry_rls_tenant_id": tenant_id})


_TENANT_CRITERIA = with_loader_criteria(
    TenantOwned,
    # The parameter name is spelled out: a lambda's globals would become cache-tracked values.
    lambda cls: cls.tenant_id == bindparam("tenantry_tenant_id"),
    include_aliases=True,
)
"""`tenant_id = :tenantry_tenant_id` for every TenantOwned entity; the same for all tenants."""


def _scope(
    session: TenantSession,
    statement: Executable,
    params: Any,
    *,
    internal_load: bool,
    mappers: Callable[[], Iterable[Mapper[Any]]],
    reuse: bool,
) -> tuple[Executable, dict[str, Any]]:
    """Add the tenant criteria and parameter to a statement, or refuse it if it cannot be scoped.

    `internal_load` marks the ORM's own column and relationship loads, which it builds from
    mapped columns, never from callers' SQL. `mappers` names the statement's top-level mappers,
    whose primary-key columns a `Session.get()` lookup may name raw. With `reuse`, the scoped
    form of a statement object is kept while the object lives, so a statement built once runs
    as the very object SQLAlchemy compiled and cached (its cache key and result map are reused).
    """
    session.check_context()
    if statement._propagate_attrs.get("compile_state_plugin") != "orm":
        raise RawSqlError(
            "a tenant session runs only ORM statements over mapped classes, not text() or Tables"
        )
    if isinstance(params, Sequence) and not isinstance(params, Mapping):
        raise RawSqlError("executemany statements are not allowed on a tenant session")
    if statement.is_dml:
        if statement.is_insert:
            raise RawSqlError("INSERT statements bypass tenant checks; use add() or add_all()")
        if statement.is_update or statement.is_delete:
            _check_dml(statement, params)
    scoped = _scoped_statements.get(statement) if reuse else None
    if scoped is None:
        scoped = statement.options(_TENANT_CRITERIA)
        if not internal_load:
            _check_unscopable_parts_once(scoped, statement, mappers)
        if reuse:
            # Rows are read by position or name, never by column object, so a cached compiled
            # form need not be re-keyed to this statement's columns (the ORM sets this too).
            scoped = scoped.execution_options(_result_disable_adapt_to_context=True)
            _scoped_statements[statement] = scoped
    values = dict(params) if params else {}
    values[TENANT_PARAM] = session.tenant_id
    return scoped, values


def _no_mappers() -> Iterable[Mapper[Any]]:
    return ()


def _scope_orm_execution(state: ORMExecuteState) -> None:
    """The `do_orm_execute` door: scope every statement a tenant session executes."""
    session = state.session
    assert isinstance(session, TenantSession)
    state.statement, state.parameters = _scope(
        session,
        state.statement,
        state.parameters,
        internal_load=state.is_column_load or state.is_relationship_load,
        mappers=lambda: state.all_mappers,
        reuse=False,
    )


_inserts: dict[type[TenantOwned], Insert] = {}
_untenanted_inserts: dict[type[Any], Insert] = {}


def _insert_statement(entity: type[TenantOwned]) -> Insert:
    """The Core INSERT of a TenantOwned class's table (refusing anything else), built once."""
    statement = _inserts.get(entity)
    if statement is None:
        mapper = inspect(entity, raiseerr=False)
        if not (isinstance(entity, type) and issubclass(entity, TenantOwned)) or mapper is None:
            raise RawSqlError("insert_rows() takes a mapped TenantOwned class")
        table = mapper.local_table
        assert isinstance(table, Table)
        statement = _inserts[entity] = table.insert()
    return statement


def _check_dml(statement: Any, params: Any) -> None:
    """Refuse any UPDATE that would move a row's tenant."""
    if params and _TENANT_COLUMN in params:
        raise CrossTenantError("an UPDATE may not set tenant_id")
    for key in _dml_value_keys(statement):
        name = key if isinstance(key, str) else getattr(key, "key", None)
        if name == _TENANT_COLUMN:
            raise CrossTenantError("an UPDATE may not set tenant_id")


def _dml_value_keys(statement: Any) -> Iterator[Any]:
    """Every column an UPDATE statement assigns, however `values()` was called."""
    # SQLAlchemy offers no public view of a statement's SET clause; these attributes have held
    # it since 1.4 and are read defensively.
    yield from getattr(statement, "_values", None) or ()
    for key, _ in getattr(statement, "_ordered_values", None) or ():
        yield key
    for row in getattr(statement, "_multi_values", None) or ():
        for values in row:
            if isinstance(values, Mapping):
                yield from values


_scoped_statements: weakref.WeakKeyDictionary[Executable, Executable] = weakref.WeakKeyDictionary()
"""Statements run through `rows()`, each with its scoped, already checked form."""

_safe_statements: dict[Any, bool] = {}
"""Cache keys of statements already walked and found scopable (bounded; cleared when full)."""


def _check_unscopable_parts_once(
    scoped: Executable, statement: Executable, mappers: Callable[[], Iterable[Mapper[Any]]]
) -> None:
    """Walk `statement` unless a statement with the same cache key was already found safe.

    The key is taken from the scoped statement, whose key SQLAlchemy memoizes and reuses for
    its own compiled cache, so the lookup costs no second key. A statement that cannot be
    cached (no key) is walked every time.
    """
    cache_key = scoped._generate_cache_key()  # type: ignore[attr-defined]
    key = None if cache_key is None else cache_key.key
    if key is not None and key in _safe_statements:
        return
    _check_unscopable_parts(statement, mappers())
    if key is not None:
        if len(_safe_statements) >= _SAFE_CACHE_SIZE:
            _safe_statements.clear()
        _safe_statements[key] = True


def _check_unscopable_parts(statement: object, mappers: Iterable[Mapper[Any]]) -> None:
    """Refuse raw SQL fragments and Core columns/tables that tenant criteria would not reach."""
    assert isinstance(statement, ClauseElement)
    allowed = _primary_key_lookups(statement, mappers)
    for element in visitors.iterate(statement):
        if isinstance(element, TextClause):
            raise RawSqlError("text() fragments are not allowed on a tenant session")
        _check_raw_sql(element)
        if isinstance(element, Join):
            for side in (element.left, element.right):
                if isinstance(side, TableClause) and not _is_mapped(side):
                    raise RawSqlError(
                        f"join to table {side.name!r} must go through its mapped class"
                    )
        elif isinstance(element, Select):
            for description in element.column_descriptions:
                if description.get("entity") is None:
                    _check_column(description.get("expr"), allowed)
        elif isinstance(element, ColumnClause):
            _check_column(element, allowed)


def _check_raw_sql(element: object) -> None:
    """Refuse the other ways to write SQL text: literal columns, custom operators, and hints.

    `*` and plain numbers stay allowed as literal columns: `count()`, `exists()` and the
    ORM's `any()`/`has()` are built from them, and neither can hide a query.
    """
    if (
        isinstance(element, ColumnClause)
        and element.is_literal
        and not (element.name == "*" or (element.name.isascii() and element.name.isdigit()))
    ):
        raise RawSqlError("literal_column() is raw SQL; use mapped columns")
    for part in ("operator", "modifier"):
        operator = getattr(element, part, None)
        if isinstance(operator, custom_op) and not _is_symbol_operator(operator.opstring):
            raise RawSqlError(f"custom operator {operator.opstring!r} is raw SQL")
    for part in ("_prefixes", "_suffixes", "_hints", "_statement_hints"):
        if getattr(element, part, None):
            raise RawSqlError("statement prefixes, suffixes and hints are raw SQL")


def _is_symbol_operator(opstring: str) -> bool:
    """True for operators spelled in symbols alone (`@>`, `->>`), which cannot hide a query."""
    return bool(_SYMBOL_OPERATOR.fullmatch(opstring)) and "--" not in opstring


def _check_column(column: object, allowed: set[int]) -> None:
    """Refuse a column of a table that was named directly instead of through its mapped class."""
    if not isinstance(column, ColumnClause) or column.table is None or _is_mapped(column):
        return
    if id(column) in allowed:
        return
    raise RawSqlError(
        f"column {column.table.description}.{column.name} must be used through its mapped class"
    )


def _is_mapped(element: ColumnClause[Any] | TableClause) -> bool:
    """True if the element came from a mapped class or relationship (criteria can find it)."""
    annotations = element._annotations
    return "parententity" in annotations or "parentmapper" in annotations


def _primary_key_lookups(statement: ClauseElement, mappers: Iterable[Mapper[Any]]) -> set[int]:
    """Primary-key columns the statement's own WHERE names raw, as `Session.get()` does.

    Only the top level counts: a raw column inside a subquery is never exempt. Columns are
    compared by identity (`==` on a column builds SQL, and annotated copies share its hash).
    """
    where = getattr(statement, "whereclause", None)
    if where is None:
        return set()
    keys = {id(c) for m in mappers for c in m.primary_key}
    found: set[int] = set()
    pending: list[ClauseElement] = [where]
    while pending:
        element = pending.pop()
        if isinstance(element, (SelectBase, ScalarSelect, FromClause)):
            continue
        if isinstance(element, ColumnClause) and id(element) in keys:
            found.add(id(element))
        pending.extend(element.get_children())
    return found


def _check_writes(session: Session, _flush_context: Any, _instances: Any) -> None:
    """Fill in the tenant of new objects and refuse any object that names another tenant."""
    assert isinstance(session, TenantSession)
    session.check_context()
    tenant_id = session.tenant_id
    for obj in session.new:
        if isinstance(obj, TenantOwned):
            if obj.tenant_id is None:
                obj.tenant_id = tenant_id
            elif obj.tenant_id != tenant_id:
                raise CrossTenantError("a new object names another tenant")
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, TenantOwned) and obj.tenant_id != tenant_id:
            raise CrossTenantError("an object of another tenant cannot be changed here")


event.listen(TenantSession, "do_orm_execute", _scope_orm_execution)
event.listen(TenantSession, "before_flush", _check_writes)
