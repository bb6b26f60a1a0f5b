"""Prepare a PostgreSQL cloud's databases before `up` starts the services that use them.

With DSNs in the topology, `up` creates any missing database, then gives each service its
roles, schema, tables, grants and row-level security (`PostgresBackend.provision`): identity
and tcs on the global database, issues on every shard. Services then connect as their own
roles and never hold the administrator's DSN. Every step is idempotent, so each `up` runs it.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.choose import postgres_backend
from tenantry.platform.storage.postgres_databases import DatabaseSetupError, ensure_database
from tenantry.platform.topology import Topology
from tenantry.services.identity.models import IdentityBase
from tenantry.services.issues.models import IssuesBase
from tenantry.services.tcs.catalog import metadata as tcs_metadata


class ProvisioningFailed(Exception):
    """A database could not be prepared; the message says which and why, fit to show as is."""


def service_databases(topology: Topology) -> list[tuple[str, str, MetaData]]:
    """Every (service, shard, tables) the cloud needs: global services first, then the shards."""
    places: list[tuple[str, str, MetaData]] = [
        ("identity", GLOBAL_SHARD, IdentityBase.metadata),
        ("tcs", GLOBAL_SHARD, tcs_metadata),
    ]
    places += [("issues", shard, IssuesBase.metadata) for shard in topology.shards]
    return places


def provision_databases(topology: Topology) -> list[str]:
    """Create and provision every database of a PostgreSQL topology; the ones created, by name.

    Does nothing for a topology without DSNs (the SQLite files are made as services open them).
    """
    if not topology.uses_postgres:
        return []
    backend = postgres_backend(topology)
    dsns = [topology.global_dsn] + [shard.dsn for shard in topology.shards.values()]
    created = []
    for dsn in dict.fromkeys(d for d in dsns if d is not None):
        try:
            if ensure_database(dsn):
                created.append(str(make_url(dsn).database))
        except DatabaseSetupError as exc:
            raise ProvisioningFailed(str(exc)) from None
    for service, shard, metadata in service_databases(topology):
        try:
            backend.provision(service, shard, metadata)
        except (SQLAlchemyError, ValueError) as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise ProvisioningFailed(
                f"cannot provision {service} on {_place(shard)}: {reason}"
            ) from None
    return created


def _place(shard: str) -> str:
    return "the global database" if shard == GLOBAL_SHARD else f"shard {shard!r}"
