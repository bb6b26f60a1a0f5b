"""Reading what a running cloud stored, straight from its databases, to check what is at rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from backends import BACKEND
from tenantry.platform.topology import load_topology

from .cloud import Cloud


def stored_rows(
    cloud: Cloud, dsn_key: str, sqlite_path: Path, sql: str, **params: str
) -> list[Any]:
    """Rows of a service table, from its SQLite file or its PostgreSQL database."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{sqlite_path}"
    else:
        topology = load_topology(cloud.data_dir / "run" / "topology.toml")
        dsn = topology.global_dsn if dsn_key == "global" else topology.shards[dsn_key].dsn
        assert dsn is not None
        url = dsn.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql), params).all())
    finally:
        engine.dispose()


def shard_of(cloud: Cloud, cloud_id: str) -> str:
    """The shard a tenant lives on, from tcs's catalog."""
    schema = "" if BACKEND == "sqlite" else "tcs."
    ((shard,),) = stored_rows(
        cloud,
        "global",
        cloud.data_dir / "global" / "tcs.sqlite",
        f"SELECT shard FROM {schema}tenants WHERE cloud_id = :id",  # noqa: S608
        id=cloud_id,
    )
    return str(shard)


def media_rows(cloud: Cloud, cloud_id: str, table: str, column: str) -> set[str]:
    """One column of a tenant's rows in media's `table` (`media_files`, `blob_retirements`)."""
    shard = shard_of(cloud, cloud_id)
    schema = "" if BACKEND == "sqlite" else "media."
    tenant_column = "cloud_id" if table == "blob_retirements" else "tenant_id"
    rows = stored_rows(
        cloud,
        shard,
        cloud.data_dir / "shards" / shard / "media.sqlite",
        f"SELECT {column} FROM {schema}{table} WHERE {tenant_column} = :id",  # noqa: S608
        id=cloud_id,
    )
    return {str(row[0]) for row in rows}


def media_forgot(cloud: Cloud, cloud_id: str, file_id: str) -> bool:
    """Whether media deleted a file: no row of it left, its blobs retired (kept, for backups,
    until the backup window has passed)."""
    return file_id not in media_rows(
        cloud, cloud_id, "media_files", "id"
    ) and file_id in media_rows(cloud, cloud_id, "blob_retirements", "prefix")
