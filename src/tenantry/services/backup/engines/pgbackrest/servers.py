"""Which PostgreSQL servers a region's databases live on, and what pgBackRest must know of each."""

from __future__ import annotations

import json
import pwd
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.pgbackrest.config import ServerFacts

GLOBAL = "global"
"""The name the interface gives the global database."""


@dataclass(frozen=True, slots=True)
class Stanza:
    """One PostgreSQL server: pgBackRest backs up and restores a whole server as a stanza."""

    name: str
    conninfo: str
    """How tenantry reaches the server (libpq), on the first of its databases."""
    databases: tuple[tuple[str, str], ...]
    """(shard, database name) of every database of the region on this server."""


def stanzas_of(topology: Topology, region: str | None) -> tuple[Stanza, ...]:
    """The servers of `region`'s shards (or of the global database when None), in order."""
    if region is None:
        if topology.global_dsn is None:
            raise ValueError("the topology has no [global] dsn: the databases are on SQLite")
        named = [(GLOBAL, topology.global_dsn)]
    else:
        shards = topology.regions[region].shards
        missing = [shard.name for shard in shards if shard.dsn is None]
        if missing:
            raise ValueError(f"shards {', '.join(missing)} have no dsn: they are on SQLite")
        named = [(shard.name, shard.dsn) for shard in shards if shard.dsn is not None]
    servers: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for shard, dsn in named:
        conninfo = libpq(dsn)
        parts = conninfo_to_dict(conninfo)
        where = (str(parts.get("host") or ""), str(parts.get("port") or "5432"))
        servers.setdefault(where, []).append((shard, str(parts.get("dbname") or ""), conninfo))
    return tuple(
        Stanza(
            name=_stanza_name(host, port),
            conninfo=members[0][2],
            databases=tuple((shard, database) for shard, database, _ in members),
        )
        for (host, port), members in servers.items()
    )


def libpq(dsn: str) -> str:
    """A topology DSN (SQLAlchemy or libpq URL) as libpq takes it."""
    return dsn.replace("postgresql+psycopg://", "postgresql://", 1)


def _stanza_name(host: str, port: str) -> str:
    place = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "local"
    return f"pg-{place}-{port}"


def connect(conninfo: str) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection that gives up quickly on a server that does not answer."""
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)


def discover(stanza: Stanza) -> ServerFacts:
    """Ask the server where its data is, how to reach it locally and who owns its files.

    Raises psycopg.Error when the server does not answer and LookupError when its files are not
    on this machine (pgBackRest must run where the server runs).
    """
    with connect(stanza.conninfo) as connection:
        rows = connection.execute(
            "SELECT current_setting('data_directory'), "
            "current_setting('unix_socket_directories'), current_setting('port'), current_user"
        ).fetchone()
    assert rows is not None
    data_directory, sockets, port, user = (str(value) for value in rows)
    path = Path(data_directory)
    try:
        owner = pwd.getpwuid(path.stat().st_uid).pw_name
    except (OSError, KeyError) as exc:
        raise LookupError(
            f"the server's data directory {data_directory} is not on this machine: pgBackRest "
            "must run where the server runs"
        ) from exc
    socket_directory = sockets.split(",")[0].strip() or "/tmp"  # noqa: S108 (libpq's default)
    return ServerFacts(path, socket_directory, int(port), user, owner)


def load_facts(path: Path) -> dict[str, ServerFacts]:
    """The facts last discovered, so a stopped server can still be restored."""
    try:
        raw: Mapping[str, Mapping[str, object]] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    facts = {}
    for name, entry in raw.items():
        facts[name] = ServerFacts(
            data_directory=Path(str(entry["data_directory"])),
            socket_directory=str(entry["socket_directory"]),
            port=int(str(entry["port"])),
            user=str(entry["user"]),
            os_user=str(entry["os_user"]),
        )
    return facts


def save_facts(path: Path, facts: Mapping[str, ServerFacts]) -> None:
    entries = {
        name: {**asdict(f), "data_directory": str(f.data_directory)} for name, f in facts.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(entries, indent=2, sort_keys=True))
    temporary.replace(path)


def database_conninfo(stanza: Stanza, database: str) -> str:
    """The stanza's connection, on another of its databases."""
    return make_conninfo(stanza.conninfo, dbname=database)


def shard_names(stanzas: Sequence[Stanza]) -> list[str]:
    return [shard for stanza in stanzas for shard, _ in stanza.databases]
