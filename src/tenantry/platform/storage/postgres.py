"""The fleet storage backend: PostgreSQL, with row-level security behind the tenant session.

Layout: one database per shard, one schema per service (named after the service). Two roles per
service: an owner role (`<prefix>_owner_<service>`, no login) owns the schema and its tables,
and a login role (`<prefix>_<service>`) that owns nothing is what the service connects as. That
role may only read and write rows of its own schema's tables, and every table with a `tenant_id`
column has a forced row-level security policy that shows and accepts only the rows of the tenant
named by the transaction-local setting `tenantry.tenant_id`, which the tenant session sets at the
start of each transaction. The tenant session's own scoping stays the first line; the policy is
the backstop when a statement slips past it.

`migrate()` runs with an administrator's connection and is idempotent. Services never hold
that connection: `open()` connects as the service role, and refuses to hand out an engine
whose role could bypass the policies (`check_service_role()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tenantry.platform.storage.backend import check_name
from tenantry.platform.storage.migrations import (
    ServiceSchema,
    current_revision,
    require_current,
    upgrade,
)
from tenantry.platform.storage.move_fence import refuse_fenced_writes

TENANT_SETTING = "tenantry.tenant_id"
"""The transaction-local setting the row-level security policies compare `tenant_id` with."""

POLICY_NAME = "tenant_isolation"
"""The name of the row-level security policy on every tenant-owned table."""

_DRIVER = "postgresql+psycopg"
_MAX_IDENTIFIER = 63
# Handlers run their statements one at a time per process, so a few connections are enough;
# every service process keeps a pool per shard, against PostgreSQL's default of 100 connections.
# Two stay open when idle (a handler's and a background loop's); a burst opens up to ten more,
# which close again when it is over.
_POOL_SIZE = 2
_POOL_OVERFLOW = 10
# Another migration on the same server made the role meanwhile: unique_violation or
# duplicate_object (whichever check saw it first); or serialization_failure, deadlock_detected.
_RACE_STATES = frozenset({"23505", "42710", "40001", "40P01"})
_MIGRATE_ATTEMPTS = 3
_TENANT_EXPRESSION = f"tenant_id = nullif(current_setting('{TENANT_SETTING}', true), '')"


class UnsafeServiceRoleError(RuntimeError):
    """Raised at start-up when the service's database role could read past row-level security."""


class PostgresBackend:
    """Hands out engines that connect as a service's own role to its schema on a shard database.

    `dsn_by_shard` names each shard's database; its user and password are the administrator's
    and are used only by `migrate()` (and only if `admin_dsn_by_shard` does not name the shard).
    Engines take the host, port and database from it and the credentials of the service role:
    its name, and its password from `passwords` (keyed by service) when the server asks for one.
    """

    def __init__(
        self,
        dsn_by_shard: Mapping[str, str],
        *,
        role_prefix: str = "tenantry",
        passwords: Mapping[str, str] | None = None,
        admin_dsn_by_shard: Mapping[str, str] | None = None,
        pool_size: int = _POOL_SIZE,
        max_overflow: int = _POOL_OVERFLOW,
    ) -> None:
        self._dsn_by_shard = {check_name("shard", s): dsn for s, dsn in dsn_by_shard.items()}
        self._admin_dsn_by_shard = dict(admin_dsn_by_shard or {})
        self.role_prefix = check_name("role prefix", role_prefix)
        self._passwords = dict(passwords or {})
        self.pool_size = pool_size
        self.max_overflow = max_overflow

    def service_role(self, service: str) -> str:
        """The login role `service` connects as (it owns nothing)."""
        return _identifier(f"{self.role_prefix}_{check_name('service', service)}")

    def owner_role(self, service: str) -> str:
        """The role that owns `service`'s schema and tables (it cannot log in)."""
        return _identifier(f"{self.role_prefix}_owner_{check_name('service', service)}")

    def url(self, service: str, shard: str) -> URL:
        """Where and as whom `service` connects on `shard`: never with the admin's password."""
        shard_url = _shard_url(self._dsn(shard))
        # Built afresh: `URL.set(password=None)` would keep the DSN's (administrator's) password.
        return URL.create(
            _DRIVER,
            username=self.service_role(service),
            password=self._passwords.get(service),
            host=shard_url.host,
            port=shard_url.port,
            database=shard_url.database,
            query=shard_url.query,
        )

    def engine(self, service: str, shard: str) -> Engine:
        """An engine as `service`'s role with its schema as the only search path; checked first."""
        schema = check_name("service", service)
        pooling: dict[str, Any] = (
            {"poolclass": NullPool}
            if self.pool_size == 0
            else {
                "pool_size": self.pool_size,
                "max_overflow": self.max_overflow,
                "pool_use_lifo": True,
                "pool_pre_ping": True,
            }
        )
        engine = create_engine(
            self.url(service, shard),
            # Quoted, so a service name with a hyphen is one schema name.
            connect_args={"options": f'-c search_path="{schema}"'},
            # A failed statement's message must not carry its values (tenant text) into logs.
            hide_parameters=True,
            **pooling,
        )
        refuse_fenced_writes(engine)
        try:
            check_service_role(engine)
        except BaseException:
            engine.dispose()
            raise
        return engine

    def open(self, schema: ServiceSchema, shard: str) -> Engine:
        """The service role's engine, once the role is safe and the schema is current."""
        engine = self.engine(schema.service, shard)
        try:
            with engine.connect() as connection:
                require_current(connection, schema, f"shard {shard!r}", schema.service)
        except BaseException:
            engine.dispose()
            raise
        return engine

    def migrate(self, schema: ServiceSchema, shard: str) -> None:
        """Create or bring in line the roles, schema, revisions, grants and policies.

        Runs as the administrator in one transaction, so it applies entirely or not at all,
        and running it again changes nothing that is already right. Revisions run as the owner
        role (so the owner owns what they create); an advisory lock makes concurrent runs on
        the same database take turns.
        """
        check_name("service", schema.service)
        admin = self._admin_engine(shard)
        try:
            for attempt in range(_MIGRATE_ATTEMPTS):
                try:
                    self._migrate_once(admin, schema)
                    return
                except DBAPIError as exc:
                    # Two shards on one server may create the same new role at once; the loser
                    # rolls back whole and tries again, finding the role made.
                    lost_race = getattr(exc.orig, "sqlstate", None) in _RACE_STATES
                    if not lost_race or attempt == _MIGRATE_ATTEMPTS - 1:
                        raise
        finally:
            admin.dispose()

    def _migrate_once(self, admin: Engine, schema: ServiceSchema) -> None:
        service = schema.service
        owner, login = self.owner_role(service), self.service_role(service)
        with admin.begin() as connection:
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(hashtext(%(lock)s))",
                {"lock": f"tenantry.migrate.{service}"},
            )
            _provision(connection, service, owner, login)
            connection.exec_driver_sql(f"SET LOCAL ROLE {_quote(owner)}")
            connection.exec_driver_sql(f"SET LOCAL search_path TO {_quote(service)}")
            if current_revision(connection, service) != schema.head:
                upgrade(connection, schema, service)
            _grant_and_protect(connection, service, login)

    def revision(self, schema: ServiceSchema, shard: str) -> str | None:
        """The revision of the service's schema on `shard`, read as the administrator."""
        service = check_name("service", schema.service)
        admin = self._admin_engine(shard)
        try:
            with admin.connect() as connection:
                table = connection.exec_driver_sql(
                    "SELECT to_regclass(%(name)s)", {"name": f"{_quote(service)}.alembic_version"}
                ).scalar_one()
                return None if table is None else current_revision(connection, service)
        finally:
            admin.dispose()

    def _admin_engine(self, shard: str) -> Engine:
        url = self._admin_dsn_by_shard.get(shard) or self._dsn(shard)
        return create_engine(_shard_url(url), poolclass=NullPool)

    def _dsn(self, shard: str) -> str:
        try:
            return self._dsn_by_shard[check_name("shard", shard)]
        except KeyError:
            raise KeyError(f"no PostgreSQL database is configured for shard {shard!r}") from None


def check_service_role(engine: Engine) -> None:
    """Refuse to start on a role that row-level security would not hold back.

    A superuser or a BYPASSRLS role skips every policy; the owner of a table (or a member of the
    owner's role) can drop or disable the policy. Each refusal says how to fix the role.
    """
    with engine.connect() as connection:
        name, superuser, bypass, schema = connection.exec_driver_sql(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls, current_schema()"
            " FROM pg_catalog.pg_roles r WHERE r.rolname = current_user"
        ).one()
        if superuser:
            raise UnsafeServiceRoleError(
                f"database role {name!r} is a superuser, which bypasses row-level security; "
                "connect the service as its own role made by `tenantry migrate` "
                f"(or run: ALTER ROLE {_quote(name)} NOSUPERUSER)"
            )
        if bypass:
            raise UnsafeServiceRoleError(
                f"database role {name!r} has BYPASSRLS, which skips row-level security; "
                f"run: ALTER ROLE {_quote(name)} NOBYPASSRLS"
            )
        if schema is None:
            raise UnsafeServiceRoleError(
                f"database role {name!r} sees no schema on its search path; "
                "run `tenantry migrate` first"
            )
        owned = connection.exec_driver_sql(
            "SELECT n.nspname FROM pg_catalog.pg_namespace n"
            " WHERE n.nspname = current_schema()"
            " AND pg_catalog.pg_has_role(current_user, n.nspowner, 'MEMBER')"
            " UNION ALL"
            " SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c"
            " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema()"
            " AND pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')"
            " ORDER BY 1"
        ).scalars()
        names = list(owned)
        if names:
            raise UnsafeServiceRoleError(
                f"database role {name!r} owns (or is a member of the role that owns) "
                f"{', '.join(names)}, so it could drop or disable row-level security; "
                "give the schema and tables to the service's owner role "
                "(ALTER ... OWNER TO <prefix>_owner_<service>, as `tenantry migrate` "
                "does) and revoke that role's membership from the service role"
            )


def _provision(connection: Connection, schema: str, owner: str, service_role: str) -> None:
    """The roles and the schema, with the service role allowed into the schema and no further."""
    # The owner cannot log in; the service role can, but holds no power beyond its grants.
    _ensure_role(
        connection, owner, "NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT"
    )
    _ensure_role(
        connection,
        service_role,
        "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT",
    )
    member = connection.exec_driver_sql(
        "SELECT pg_catalog.pg_has_role(current_user, %(role)s, 'MEMBER')", {"role": owner}
    ).scalar_one()
    if not member:
        # The administrator creates the tables as the owner, so it must be able to become it.
        connection.exec_driver_sql(f"GRANT {_quote(owner)} TO CURRENT_USER")
    connection.exec_driver_sql(
        f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)} AUTHORIZATION {_quote(owner)}"
    )
    connection.exec_driver_sql(f"ALTER SCHEMA {_quote(schema)} OWNER TO {_quote(owner)}")
    connection.exec_driver_sql(f"REVOKE ALL ON SCHEMA {_quote(schema)} FROM PUBLIC")
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_quote(schema)} TO {_quote(service_role)}")


def _grant_and_protect(connection: Connection, schema: str, service_role: str) -> None:
    """As the owner: row rights for the service role, and a forced policy on tenant tables."""
    quoted_schema, quoted_role = _quote(schema), _quote(service_role)
    connection.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted_schema}"
        f" TO {quoted_role}"
    )
    connection.exec_driver_sql(
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {quoted_role}"
    )
    # Tables the owner adds later get the same rights without a second grant.
    connection.exec_driver_sql(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted_schema}"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted_role}"
    )
    connection.exec_driver_sql(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted_schema}"
        f" GRANT USAGE, SELECT ON SEQUENCES TO {quoted_role}"
    )
    # The revision table is the migrator's: the service may read it (to check it is current).
    connection.exec_driver_sql(
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {quoted_schema}.alembic_version"
        f" FROM {quoted_role}"
    )
    tables = connection.exec_driver_sql(
        "SELECT c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
        " WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p')"
        " AND a.attname = 'tenant_id' AND NOT a.attisdropped ORDER BY c.relname",
        {"schema": schema},
    ).scalars()
    for table in list(tables):
        name = f"{quoted_schema}.{_quote(table)}"
        connection.exec_driver_sql(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
        # FORCE: the policy binds the table's owner too, not only other roles.
        connection.exec_driver_sql(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
        connection.exec_driver_sql(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {name}")
        connection.exec_driver_sql(
            f"CREATE POLICY {POLICY_NAME} ON {name}"
            f" USING ({_TENANT_EXPRESSION}) WITH CHECK ({_TENANT_EXPRESSION})"
        )
    connection.exec_driver_sql("RESET ROLE")


def _ensure_role(connection: Connection, role: str, attributes: str) -> None:
    """Create `role`, or reset an existing one's attributes if they are not the ones it needs.

    Roles belong to the whole server, so shards on one server share them; an existing role that
    is already right is left untouched, so migrations of those shards can run side by side.
    """
    found = connection.exec_driver_sql(
        "SELECT rolcanlogin, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolinherit"
        " FROM pg_catalog.pg_roles WHERE rolname = %(role)s",
        {"role": role},
    ).first()
    if found is None:
        connection.exec_driver_sql(f"CREATE ROLE {_quote(role)} WITH {attributes}")
    elif tuple(found) != _flags(attributes):
        connection.exec_driver_sql(f"ALTER ROLE {_quote(role)} WITH {attributes}")


def _flags(attributes: str) -> tuple[bool, ...]:
    """The pg_roles columns that `attributes` (LOGIN, NOSUPERUSER, ...) sets, in query order."""
    words = set(attributes.split())
    names = ("LOGIN", "SUPERUSER", "BYPASSRLS", "CREATEDB", "CREATEROLE", "INHERIT")
    return tuple(name in words for name in names)


def _shard_url(dsn: str) -> URL:
    """The DSN as a psycopg 3 URL, whichever PostgreSQL scheme it was written with."""
    url = make_url(dsn)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL DSN: {url.render_as_string(hide_password=True)}")
    return url.set(drivername=_DRIVER)


def _identifier(name: str) -> str:
    """Refuse a role name PostgreSQL would silently truncate (two services could then share it)."""
    if len(name.encode()) > _MAX_IDENTIFIER:
        raise ValueError(f"role name {name!r} is longer than {_MAX_IDENTIFIER} bytes")
    return name


def _quote(name: str) -> str:
    """A quoted SQL identifier, for names that come from configuration or the catalog."""
    return '"' + name.replace('"', '""') + '"'
