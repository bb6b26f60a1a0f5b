"""Make sure each database a topology names exists, so a fresh cluster needs no manual steps.

A DSN in the topology may name a database the cluster does not have yet; the administrator it
names creates it when allowed to (`CREATE DATABASE`), and otherwise the error says what to run.
Failures are `DatabaseSetupError`s with a message fit to show as is (no password in it).
"""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

_DRIVER = "postgresql+psycopg"
_MAINTENANCE_DATABASE = "postgres"
_CONNECT_TIMEOUT_SECONDS = 10


class DatabaseSetupError(RuntimeError):
    """A database of the topology is unreachable, or missing and cannot be created."""


def ensure_database(dsn: str) -> bool:
    """Create the database `dsn` names unless it exists; True if this call created it."""
    url = _url(dsn)
    where = _where(url)
    try:
        _connect_once(url)
        return False
    except DBAPIError as exc:
        first_error = _reason(exc)
    try:
        exists, may_create = _look_up(url)
    except DBAPIError:
        raise DatabaseSetupError(f"cannot connect to {where}: {first_error}") from None
    if exists:
        raise DatabaseSetupError(f"cannot connect to {where}: {first_error}")
    if not may_create:
        raise DatabaseSetupError(
            f"database {url.database!r} does not exist on {url.host}:{url.port or 5432} and "
            f"role {url.username!r} may not create it; create it first "
            f'(CREATE DATABASE "{url.database}") or name an existing one'
        )
    _create(url)
    return True


def _connect_once(url: URL) -> None:
    engine = create_engine(url, poolclass=NullPool, connect_args=_connect_args())
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()


def _look_up(url: URL) -> tuple[bool, bool]:
    """Whether the database exists, and whether the DSN's role may create databases."""
    engine = create_engine(
        url.set(database=_MAINTENANCE_DATABASE), poolclass=NullPool, connect_args=_connect_args()
    )
    try:
        with engine.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_catalog.pg_database WHERE datname = %(name)s",
                {"name": url.database},
            ).first()
            may_create = connection.exec_driver_sql(
                "SELECT rolsuper OR rolcreatedb FROM pg_catalog.pg_roles"
                " WHERE rolname = current_user"
            ).scalar_one()
    finally:
        engine.dispose()
    return exists is not None, bool(may_create)


def _create(url: URL) -> None:
    engine = create_engine(
        url.set(database=_MAINTENANCE_DATABASE),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",  # CREATE DATABASE cannot run inside a transaction
        connect_args=_connect_args(),
    )
    name = str(url.database).replace('"', '""')
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except DBAPIError as exc:
        raise DatabaseSetupError(
            f"cannot create database {url.database!r} on {_where(url)}: {_reason(exc)}"
        ) from None
    finally:
        engine.dispose()


def _url(dsn: str) -> URL:
    url = make_url(dsn)
    if url.get_backend_name() != "postgresql" or not url.database:
        raise DatabaseSetupError(
            f"not a PostgreSQL DSN with a database name: {url.render_as_string(hide_password=True)}"
        )
    return url.set(drivername=_DRIVER)


def _where(url: URL) -> str:
    return f"PostgreSQL database {url.database!r} at {url.host}:{url.port or 5432}"


def _reason(exc: DBAPIError) -> str:
    """The driver's own words, on one line (they never contain the password)."""
    return " ".join(str(exc.orig).split())


def _connect_args() -> dict[str, object]:
    return {"connect_timeout": _CONNECT_TIMEOUT_SECONDS}
