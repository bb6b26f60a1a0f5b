"""Capture and freeze one tenant's writes in a shard database while the tenant moves away.

A move copies a snapshot of the tenant's rows, then catches up with what the tenant wrote
meanwhile, then freezes its writes for the last changes. Both need every write of the tenant,
whichever service code path makes it, so they live in the database: a trigger on every
tenant-scoped table looks the writing row's tenant up in `tenantry_moves`. No row there (every
tenant that is not moving): the write goes on, at the cost of that one primary-key lookup.
`capturing`: the key of the written row is appended to `tenantry_move_changes` in the writer's
own transaction, so a change is captured exactly when it commits. Any other state (`frozen`
while the last changes land, `moved` once the catalog names the new home): the write is
refused with `tenantry_tenant_moving`, which the service answers as 503 `tenant_moving` and the
edge waits out. Reads are never refused.

The same tables and triggers serve SQLite and PostgreSQL; the mover installs them (idempotent)
before each move, as the database's owner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, Text, event
from sqlalchemy.engine import ExceptionContext

from tenantry.platform.errors import ApiError

MOVES_TABLE = "tenantry_moves"
CHANGES_TABLE = "tenantry_move_changes"
CAPTURING = "capturing"
"""Writes go on; each written row's key is recorded for the catch-up."""
FROZEN = "frozen"
"""Writes are refused while the last changes land in the new home."""
MOVED = "moved"
"""The catalog names another home: this copy is kept for rollback and never written."""
FENCE_MESSAGE = "tenantry_tenant_moving"
FENCE_TRIGGER = "tenantry_move"
"""The name of the fence's trigger (PostgreSQL) and its triggers' prefix (SQLite)."""
_TRIGGER = FENCE_TRIGGER

fence_metadata = MetaData()
"""The fence's two tables, for the mover's statements (made by the statements below, not by
any service's revisions)."""
moves = Table(
    MOVES_TABLE,
    fence_metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("move_id", String(36), nullable=False),
    Column("state", String(16), nullable=False),
)
changes = Table(
    CHANGES_TABLE,
    fence_metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("row_key", Text, nullable=False),
)


def tenant_moving() -> ApiError:
    """What a write of a frozen (or moved-away) tenant answers; the edge retries it."""
    return ApiError(
        503, "tenant_moving", "this site is moving; writes resume shortly", {"Retry-After": "1"}
    )


def refuse_fenced_writes(engine: Engine) -> None:
    """Make a write the fence refused raise 503 `tenant_moving` rather than a database error.

    It must not be a database error: code that catches IntegrityError (a key taken meanwhile)
    would take the refusal for a conflict.
    """

    def translate(context: ExceptionContext) -> None:
        if FENCE_MESSAGE in str(context.original_exception):
            raise tenant_moving() from None

    event.listen(engine, "handle_error", translate)


_SQLITE_ROWS = (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",)))


def sqlite_statements(tables: list[Table]) -> list[str]:
    """The fence's tables and triggers on a SQLite database, each statement idempotent."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {MOVES_TABLE} (tenant_id VARCHAR(36) PRIMARY KEY,"
        " move_id VARCHAR(36) NOT NULL, state VARCHAR(16) NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " tenant_id VARCHAR(36) NOT NULL, table_name VARCHAR(64) NOT NULL, row_key TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_tenant ON {CHANGES_TABLE} (tenant_id, seq)",
    ]
    for table in tables:
        keys = [column.name for column in table.primary_key.columns]
        for operation, rows in (
            ("INSERT", ("NEW",)),
            ("UPDATE", ("OLD", "NEW")),
            ("DELETE", ("OLD",)),
        ):
            row = rows[-1]
            captures = "".join(
                f" INSERT INTO {CHANGES_TABLE} (tenant_id, table_name, row_key) VALUES"  # noqa: S608
                f" ({r}.tenant_id, '{table.name}',"
                f" json_array({', '.join(f'{r}.{_quote(k)}' for k in keys)}));"
                for r in rows
            )
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {_TRIGGER}_{table.name}_{operation.lower()}"  # noqa: S608
                f" BEFORE {operation} ON {_quote(table.name)}"
                f" WHEN EXISTS (SELECT 1 FROM {MOVES_TABLE} WHERE tenant_id = {row}.tenant_id)"
                f" BEGIN SELECT RAISE(ABORT, '{FENCE_MESSAGE}') WHERE (SELECT state FROM"
                f" {MOVES_TABLE} WHERE tenant_id = {row}.tenant_id) <> '{CAPTURING}';"
                f"{captures} END"
            )
    return statements


# The statements below are built from constants and the names of registered tables only.
def postgres_statements(schema: str, tables: list[Table], service_role: str) -> list[str]:
    """The fence's tables, function and triggers in a service's PostgreSQL schema.

    Run as the schema's owner. The service role's triggers read `tenantry_moves` and append to
    `tenantry_move_changes`, under the same forced tenant policy as every tenant-scoped table
    (a write is its own tenant's, so the trigger sees that row); it may not change the fence
    itself, so a service cannot unfreeze its tenant.
    """
    from tenantry.platform.storage.postgres import POLICY_NAME, TENANT_SETTING

    s = _quote(schema)
    moves, changes = f"{s}.{MOVES_TABLE}", f"{s}.{CHANGES_TABLE}"
    expression = f"tenant_id = nullif(current_setting('{TENANT_SETTING}', true), '')"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {moves} (tenant_id VARCHAR(36) PRIMARY KEY,"
        " move_id VARCHAR(36) NOT NULL, state VARCHAR(16) NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {changes} (seq BIGSERIAL PRIMARY KEY,"
        " tenant_id VARCHAR(36) NOT NULL, table_name VARCHAR(64) NOT NULL, row_key TEXT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {CHANGES_TABLE}_tenant ON {changes} (tenant_id, seq)",
    ]
    for name in (moves, changes):
        statements += [
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY",
            f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY",
            f"DROP POLICY IF EXISTS {POLICY_NAME} ON {name}",
            f"CREATE POLICY {POLICY_NAME} ON {name} USING ({expression}) WITH CHECK ({expression})",
        ]
    role = _quote(service_role)
    statements += [
        f"REVOKE ALL ON {moves} FROM {role}",
        f"GRANT SELECT ON {moves} TO {role}",
        f"REVOKE ALL ON {changes} FROM {role}",
        f"GRANT INSERT ON {changes} TO {role}",
        f"GRANT USAGE ON SEQUENCE {s}.{CHANGES_TABLE}_seq_seq TO {role}",
    ]
    statements.append(
        f"CREATE OR REPLACE FUNCTION {s}.{_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$\n"  # noqa: S608
        "DECLARE tenant text; move_state text;\n"
        "BEGIN\n"
        "  IF TG_OP = 'DELETE' THEN tenant := OLD.tenant_id; ELSE tenant := NEW.tenant_id;"
        " END IF;\n"
        f"  SELECT m.state INTO move_state FROM {moves} m WHERE m.tenant_id = tenant;\n"
        "  IF move_state IS NOT NULL THEN\n"
        f"    IF move_state <> '{CAPTURING}' THEN RAISE EXCEPTION '{FENCE_MESSAGE}'; END IF;\n"
        "    IF TG_OP <> 'INSERT' THEN\n"
        f"      INSERT INTO {changes} (tenant_id, table_name, row_key) SELECT tenant,"
        " TG_TABLE_NAME, jsonb_agg(to_jsonb(OLD) -> k ORDER BY n)::text"
        " FROM unnest(TG_ARGV) WITH ORDINALITY AS a(k, n);\n"
        "    END IF;\n"
        "    IF TG_OP <> 'DELETE' THEN\n"
        f"      INSERT INTO {changes} (tenant_id, table_name, row_key) SELECT tenant,"
        " TG_TABLE_NAME, jsonb_agg(to_jsonb(NEW) -> k ORDER BY n)::text"
        " FROM unnest(TG_ARGV) WITH ORDINALITY AS a(k, n);\n"
        "    END IF;\n"
        "  END IF;\n"
        "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n"
        "  RETURN NEW;\n"
        "END $$"
    )
    for table in tables:
        keys = ", ".join(_literal(column.name) for column in table.primary_key.columns)
        statements.append(
            f"CREATE OR REPLACE TRIGGER {_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE"
            f" ON {s}.{_quote(table.name)} FOR EACH ROW EXECUTE FUNCTION {s}.{_TRIGGER}({keys})"
        )
    return statements


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"
