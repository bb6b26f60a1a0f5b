"""Project names and issue labels become sealed bytes; labels are indexed blindly.

Revision ID: 0004
Revises: 0003

Migrations run before kms does, so the names and labels already stored cannot be sealed here:
each is rewritten to its marked form (a zero byte, then its UTF-8 text; `sealed_fields`), which
the issues service reads and its reseal route seals. `issue_labels.label` widens to hold a
64-digit blind index; the rows already there keep the label's text until that reseal.
"""

import json
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UNSEALED = b"\x00"


def upgrade() -> None:
    """Rewrite `projects.name` and `issues.labels` as marked bytes; widen `issue_labels.label`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE projects ALTER COLUMN name TYPE bytea"
            " USING '\\x00'::bytea || convert_to(name, 'UTF8')"
        )
        op.execute(
            "ALTER TABLE issues ALTER COLUMN labels TYPE bytea"
            " USING '\\x00'::bytea || convert_to(labels::text, 'UTF8')"
        )
        op.execute("ALTER TABLE projects ALTER COLUMN name SET DEFAULT ''::bytea")
        op.execute("ALTER TABLE issues ALTER COLUMN labels SET DEFAULT ''::bytea")
        op.execute("ALTER TABLE issue_labels ALTER COLUMN label TYPE varchar(64)")
        return
    _rewrite_sqlite("projects", ("tenant_id", "key"), "name", str)
    _rewrite_sqlite("issues", ("tenant_id", "id"), "labels", _labels_text)
    with op.batch_alter_table("issue_labels") as batch:
        batch.alter_column("label", type_=sa.String(length=64), existing_type=sa.String(length=50))


def _labels_text(value: object) -> str:
    """A labels cell as SQLite holds it (JSON text), as the JSON text to mark."""
    labels = json.loads(value) if isinstance(value, str) else value
    return json.dumps(labels)


def _rewrite_sqlite(
    table: str, key: tuple[str, str], column: str, text_of: Callable[[object], str]
) -> None:
    """Replace `column` by a binary one holding each value's marked form (SQLite cannot change
    a column's type in place; a new column, dropped and renamed, keeps the table's keys)."""
    bind = op.get_bind()
    new = f"new_{column}"
    op.add_column(table, sa.Column(new, sa.LargeBinary(), nullable=False, server_default=""))
    cells = sa.table(table, sa.column(key[0]), sa.column(key[1]), sa.column(column), sa.column(new))
    first, second = cells.c[key[0]], cells.c[key[1]]
    write = (
        sa.update(cells)
        .where(first == sa.bindparam("first"), second == sa.bindparam("second"))
        .values({new: sa.bindparam("marked")})
    )
    for one, two, value in bind.execute(sa.select(first, second, cells.c[column])).all():
        marked = UNSEALED + text_of(value).encode()
        bind.execute(write, {"first": one, "second": two, "marked": marked})
    op.drop_column(table, column)
    op.alter_column(table, new, new_column_name=column)
