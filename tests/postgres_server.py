"""The local PostgreSQL server the tests use, and the clean-up every PostgreSQL test needs."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

SERVER = "postgresql://postgres@127.0.0.1:5432"


def server_engine() -> Engine:
    """An autocommit superuser engine on the server's maintenance database."""
    return create_engine(
        f"{SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres",
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )


def drop_databases_and_roles(databases: Iterable[str], role_prefix: str | None) -> None:
    """Drop test databases (even with open connections) and every role named `role_prefix*`."""
    server = server_engine()
    try:
        with server.connect() as connection:
            for database in databases:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            if role_prefix is None:
                return
            roles = connection.execute(
                text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"),
                {"p": role_prefix},
            ).scalars()
            for role in list(roles):
                connection.exec_driver_sql(f'DROP ROLE "{role}"')
    finally:
        server.dispose()
