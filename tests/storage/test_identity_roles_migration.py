"""identity's revision 0004 on a database already in use: every `user` becomes a `member`.

Accounts and notices waiting for kms are written at revision 0003 (the role then called
`user`), then the database is migrated to the head. On PostgreSQL the accounts table is under
forced row-level security by then, which hides every row from a statement naming no tenant;
the revision must still reach them all.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from backends import BACKEND, RUN_PREFIX
from postgres_server import SERVER, drop_databases_and_roles
from tenantry.platform.storage import ServiceSchema, SqliteBackend
from tenantry.platform.storage.backend import GLOBAL_SHARD, StorageBackend
from tenantry.platform.storage.postgres import PostgresBackend
from tenantry.platform.storage.postgres_databases import ensure_database
from tenantry.services.identity.models import SCHEMA, IdentityBase

NEW_REVISION = "0004_roles_and_revocation.py"


@pytest.fixture
def schema_at_0003(tmp_path: Path) -> ServiceSchema:
    """identity's schema as it was before revision 0004."""
    migrations = tmp_path / "migrations"
    shutil.copytree(SCHEMA.migrations, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    for later in (migrations / "versions").glob("0*.py"):
        if later.name >= NEW_REVISION:
            later.unlink()
    return ServiceSchema("identity", IdentityBase.metadata, migrations)


@pytest.fixture
def storage(tmp_path: Path, storage_backend: str) -> Iterator[tuple[StorageBackend, Engine, str]]:
    """The backend under test, an engine that sees every row, and the table prefix."""
    if storage_backend == "sqlite":
        backend = SqliteBackend(tmp_path / "data")
        backend.migrate(SCHEMA, GLOBAL_SHARD)  # makes the directory; dropped again below
        path = backend.path("identity", GLOBAL_SHARD)
        for file in path.parent.glob("identity.sqlite*"):
            file.unlink()
        raw = create_engine(f"sqlite:///{path}", poolclass=NullPool)
        yield backend, raw, ""
        raw.dispose()
        return
    name = f"{RUN_PREFIX}_roles_{uuid.uuid4().hex[:8]}"
    ensure_database(f"{SERVER}/{name}")
    dsn = f"{SERVER}/{name}".replace("postgresql://", "postgresql+psycopg://")
    raw = create_engine(dsn, poolclass=NullPool)  # the administrator: no policy binds it
    try:
        yield (
            PostgresBackend({GLOBAL_SHARD: f"{SERVER}/{name}"}, role_prefix=RUN_PREFIX),
            raw,
            "identity.",
        )
    finally:
        raw.dispose()
        drop_databases_and_roles([name], role_prefix=None)


ACCOUNT = (
    "INSERT INTO {p}accounts (tenant_id, account_id, email, email_index, password_hash, role,"
    " created_at) VALUES (:tenant, :account, :email, :account, 'hash', :role, 0)"
)
NOTICE = (
    "INSERT INTO {p}kms_notices (region, account_id, change, role, created_at, attempts,"
    " next_attempt_at) VALUES ('eu', :account, 'role_changed', 'user', 0, 0, 0)"
)
ACCOUNTS = "SELECT account_id, role, active, token_generation FROM {p}accounts ORDER BY 1"
NOTICE_ROLES = "SELECT role FROM {p}kms_notices"
FORCED = "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'identity.accounts'::regclass"


def test_the_old_user_role_becomes_member_everywhere(
    storage: tuple[StorageBackend, Engine, str], schema_at_0003: ServiceSchema
) -> None:
    backend, raw, prefix = storage
    backend.migrate(schema_at_0003, GLOBAL_SHARD)
    with raw.begin() as connection:
        for tenant, account, role in (
            ("t1", "a" * 32, "admin"),
            ("t1", "b" * 32, "user"),
            ("t2", "c" * 32, "user"),
        ):
            connection.execute(
                text(ACCOUNT.format(p=prefix)),
                {"tenant": tenant, "account": account, "email": b"sealed", "role": role},
            )
        connection.execute(text(NOTICE.format(p=prefix)), {"account": "b" * 32})

    backend.migrate(SCHEMA, GLOBAL_SHARD)

    with raw.connect() as connection:
        accounts = connection.execute(text(ACCOUNTS.format(p=prefix))).all()
        notices = connection.execute(text(NOTICE_ROLES.format(p=prefix))).scalars().all()
    assert [(a, r, bool(active), g) for a, r, active, g in accounts] == [
        ("a" * 32, "admin", True, 0),
        ("b" * 32, "member", True, 0),
        ("c" * 32, "member", True, 0),
    ]
    assert notices == ["member"]
    if BACKEND == "postgres":  # and the policy is forced again afterwards
        with raw.connect() as connection:
            assert connection.execute(text(FORCED)).scalar_one() is True
