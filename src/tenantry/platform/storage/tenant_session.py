"""The only way handlers reach storage: a session that sees and writes one tenant's rows.

A `TenantSession` is bound to the tenant of the running request when it opens. From then on:

- every ORM SELECT, UPDATE and DELETE gets `tenant_id = <tenant>` for each `TenantOwned` entity
  it touches, in joins, aliases and subqueries too (SQLAlchemy's `with_loader_criteria`);
- new `TenantOwned` objects get the tenant filled in at flush, and an object that names another
  tenant (new, changed or deleted) fails the flush;
- anything the criteria cannot see is refused: raw `text()` SQL, Core statements against
  `Table` objects, Core columns of tables inside ORM statements, bulk INSERTs and bulk
  UPDATE/DELETE by primary key, UPDATEs that set `tenant_id`, and `Session.connection()`;
- a statement issued while no tenant (or another tenant) is in context raises.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from sqlalchemy import Engine, Join, TableClause, TextClause, event
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.orm.util import LoaderCriteriaOption
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import ClauseElement, ColumnClause
from sqlalchemy.sql.selectable import FromClause, ScalarSelect, Select, SelectBase

from tenantry.platform.context import MissingTenantError, current_tenant, require_tenant
from tenantry.platform.storage.model import TenantOwned

_TENANT_COLUMN = "tenant_id"


class TenantIsolationError(RuntimeError):
    """Raised when a storage operation would read or write past the current tenant's rows."""


class RawSqlError(TenantIsolationError):
    """Raised for SQL the tenant session cannot scope (text, Core tables, bulk statements)."""


class CrossTenantError(TenantIsolationError):
    """Raised when a write names another tenant, or the session is used under another tenant."""


class TenantSession(Session):
    """A SQLAlchemy session fixed to one tenant; see the module docstring for what it enforces."""

    def __init__(self, bind: Engine, tenant_id: str) -> None:
        # Objects stay readable after commit: handlers build responses after the block ends.
        super().__init__(bind=bind, expire_on_commit=False)
        self.tenant_id = tenant_id

    def check_context(self) -> None:
        """Refuse to work unless the running context is this session's tenant."""
        tenant = current_tenant.get()
        if tenant is None:
            raise MissingTenantError("no tenant context is set for this storage operation")
        if tenant.cloud_id != self.tenant_id:
            raise CrossTenantError("this session belongs to another tenant than the context")

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
    """Open a session for the current tenant: commit if the block succeeds, roll back if not."""
    tenant_id = require_tenant().cloud_id
    session = TenantSession(engine, tenant_id)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _scope_statement(state: ORMExecuteState) -> None:
    """Add the tenant criteria to a statement, or refuse it if it cannot be scoped."""
    session = state.session
    assert isinstance(session, TenantSession)
    session.check_context()
    if not state.is_orm_statement:
        raise RawSqlError(
            "a tenant session runs only ORM statements over mapped classes, not text() or Tables"
        )
    if state.is_insert:
        raise RawSqlError("INSERT statements bypass tenant checks; use add() or add_all()")
    if state.is_update or state.is_delete:
        _check_dml(state)
    if not (state.is_column_load or state.is_relationship_load):
        # Those loads are built by the ORM itself from mapped columns, never by callers.
        _check_unscopable_parts(state)
    state.statement = state.statement.options(_tenant_criteria(session.tenant_id))


@functools.lru_cache(maxsize=4096)
def _tenant_criteria(tenant_id: str) -> LoaderCriteriaOption:
    """The `tenant_id = ...` criteria for every TenantOwned entity (built once per tenant)."""
    return with_loader_criteria(
        TenantOwned,
        lambda cls: cls.tenant_id == tenant_id,
        include_aliases=True,
    )


def _check_dml(state: ORMExecuteState) -> None:
    """Refuse bulk UPDATE/DELETE by primary key and any UPDATE that would move a row's tenant."""
    params = state.parameters
    if isinstance(params, list):
        raise RawSqlError("bulk UPDATE/DELETE by primary key is not allowed on a tenant session")
    if params and _TENANT_COLUMN in params:
        raise CrossTenantError("an UPDATE may not set tenant_id")
    for key in _dml_value_keys(state.statement):
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


def _check_unscopable_parts(state: ORMExecuteState) -> None:
    """Refuse text fragments and Core columns/tables that tenant criteria would not reach."""
    statement = state.statement
    assert isinstance(statement, ClauseElement)
    allowed = _primary_key_lookups(statement, state.all_mappers)
    for element in visitors.iterate(statement):
        if isinstance(element, TextClause):
            raise RawSqlError("text() fragments are not allowed on a tenant session")
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


event.listen(TenantSession, "do_orm_execute", _scope_statement)
event.listen(TenantSession, "before_flush", _check_writes)
