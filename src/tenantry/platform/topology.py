"""The shape of the cloud: regions, their availability zones and shards, and where users live.

One file describes it (TOML); without one, the built-in default is used. Every process of a cloud
reads the same topology, so placement and routing agree everywhere.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# Short enough that `<prefix>_owner_<service>` stays within PostgreSQL's 63-byte names.
DAY_SECONDS = 86_400.0
_ROLE_PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DSN_SCHEMES = ("postgresql://", "postgresql+psycopg://")
DEFAULT_POOL_SIZE = 2
DEFAULT_ROLE_PREFIX = "tenantry"


class TopologyError(ValueError):
    """The topology file is unreadable or inconsistent."""


class PlacementError(ValueError):
    """Where a site's users are says nothing about where to put it; `code` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Shard:
    """A database home for many tenants, in one zone of one region."""

    name: str
    region: str
    zone: str
    dsn: str | None = None


@dataclass(frozen=True, slots=True)
class Region:
    """A data-residency boundary: tenant data homed here never leaves it."""

    name: str
    zones: tuple[str, ...]
    shards: tuple[Shard, ...]


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """Limits every edge applies: request rates (in `limits` notation, e.g. "100/second"),
    requests in flight, and how long and how widely one client may hold its connections."""

    per_tenant: str = "3000/second;100000/minute"
    per_client_ip: str = "50/second;1000/minute"
    login_failures_per_account: str = "5/minute;10/10minutes;20/hour"
    """Failed logins one account (site and email) may have before its logins wait; each
    further limit reached makes the wait longer."""
    login_failures_per_client_ip: str = "30/minute;300/hour"
    """Failed logins one client address may make, whichever accounts it tries."""
    max_in_flight: int = 0
    """Requests one edge process forwards at once, shared fairly by tenants (0: one per core)."""
    head_timeout: float = 10.0
    """Seconds a request head may take to arrive, from the connection or its first byte."""
    body_timeout: float = 10.0
    """Seconds a request body may go without a new byte before the request is closed."""
    connections_per_client: int = 64
    """Connections one client address may hold open to one edge process (0: no cap)."""


@dataclass(frozen=True, slots=True)
class BackupConfig:
    """`[backup]`: where each region's backups go, how long they are kept, when full ones run."""

    repositories: tuple[str, ...] = ()
    """Two directories, each holding a `<region>/` per region (and `global/`); empty: the
    default, `DATA_DIR/backups/<region>/<zone>` for the region's first two zones."""
    retention_days: int = 30
    full_backup_time: str = "02:00"
    """When the daily full backup and restore drill run (UTC, HH:MM)."""
    enabled: bool = True
    """False leaves the backup agents out of `up`: for a throwaway cloud only (a test's, a
    demo's), whose data no one will want back; `backup` and `tenant restore` then refuse."""

    @property
    def retention_seconds(self) -> float:
        """`retention_days` in seconds: how far back backups reach, so no blob is removed for
        good sooner after its deletion (a restore finds every blob its rows name)."""
        return self.retention_days * DAY_SECONDS

    @property
    def full_backup_minutes(self) -> int:
        """`full_backup_time` as minutes after midnight UTC."""
        hours, minutes = self.full_backup_time.split(":")
        return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Retention:
    """How long what is deleted stays recoverable before it is purged for good (`[retention]`)."""

    site_grace_days: float = 14.0
    """A deleted site can be undeleted this long; then its keys are destroyed."""
    trash_days: float = 30.0
    """A deleted issue, comment or attachment stays in its site's trash this long."""

    @property
    def site_grace_seconds(self) -> float:
        """`site_grace_days` in seconds."""
        return self.site_grace_days * DAY_SECONDS

    @property
    def trash_seconds(self) -> float:
        """`trash_days` in seconds."""
        return self.trash_days * DAY_SECONDS


@dataclass(frozen=True, slots=True)
class Moves:
    """How tenant moves behave (`[moves]`)."""

    keep_source_hours: float = 24.0
    """A moved tenant's old copy (rows, and blobs and keys of its old region) is kept this long
    after the switch, for rollback; then `up` has it removed."""
    catch_up_seconds: float = 30.0
    """A catch-up that has not become small by then is given up, unfrozen (as Vitess does)."""

    @property
    def keep_source_seconds(self) -> float:
        """`keep_source_hours` in seconds."""
        return self.keep_source_hours * 3600.0


ADEQUACY = "adequacy"
"""The destination's protection is recognised as adequate for data from the source region."""
SCC = "scc"
"""Standard contractual clauses cover the transfer."""
NONE = "none"
"""No legal basis: the transfer is refused (the edge answers 451 `transfer_not_permitted`)."""
LEGAL_BASES = (ADEQUACY, SCC, NONE)


@dataclass(frozen=True, slots=True)
class Transfers:
    """`[transfers]`: the legal basis for personal data homed in one region leaving for another.

    Pairs are directional (source = the tenant's home region, destination = where the data
    goes); a pair not listed has `default`.
    """

    default: str = SCC
    pairs: Mapping[tuple[str, str], str] = field(default_factory=dict)
    flush_seconds: float = 30.0
    """How often an edge hands its counts of forwarded requests to the privacy services."""

    def basis(self, source: str, destination: str) -> str:
        """The legal basis for data of `source` going to `destination` (never asked for one
        region: nothing leaves it)."""
        return self.pairs.get((source, destination), self.default)


@dataclass(frozen=True, slots=True)
class Topology:
    """Every region of the cloud and the country table used to place new sites."""

    regions: Mapping[str, Region]
    countries: Mapping[str, str]
    default_region: str
    shards: Mapping[str, Shard] = field(default_factory=dict)
    edge_limits: EdgeLimits = field(default_factory=EdgeLimits)
    global_dsn: str | None = None
    role_prefix: str = DEFAULT_ROLE_PREFIX
    edge_ports: Mapping[str, int] = field(default_factory=dict)
    """The loopback port of each region's edge (`[edge] ports`); unnamed regions keep theirs."""
    backup: BackupConfig = field(default_factory=BackupConfig)
    retention: Retention = field(default_factory=Retention)
    pool_size: int = DEFAULT_POOL_SIZE
    """PostgreSQL connections each service process keeps open per database when idle
    (`[postgres] pool_size`); a burst opens more, which close again after it. 0 keeps none:
    each transaction connects (behind PgBouncer, or on a server with few connections)."""
    moves: Moves = field(default_factory=Moves)
    transfers: Transfers = field(default_factory=Transfers)

    @property
    def uses_postgres(self) -> bool:
        """True when the databases live on PostgreSQL (every shard and `[global]` have a DSN)."""
        return self.global_dsn is not None

    def shard(self, name: str) -> Shard:
        """Look up a shard by name, raising KeyError for one the topology does not have."""
        return self.shards[name]

    def region_for_users(self, users_by_country: Mapping[str, int]) -> str:
        """The region nearest most of a site's expected users (ties go to the first region).

        A country the table does not list counts for `default_region`. Counts that name no
        users, or a code that is no ISO 3166-1 country, raise PlacementError: guessing a region
        would put the site's data somewhere nobody chose.
        """
        import pycountry  # its tables load only where sites are placed (tcs)

        unknown = sorted(
            country
            for country in users_by_country
            if pycountry.countries.get(alpha_2=country.upper()) is None
        )
        if unknown:
            raise PlacementError(
                "unknown_country",
                f"{', '.join(unknown)}: not an ISO 3166-1 alpha-2 country code; "
                "correct it, or pin the site with `region`",
            )
        totals: dict[str, int] = dict.fromkeys(self.regions, 0)
        for country, users in users_by_country.items():
            region = self.countries.get(country.upper(), self.default_region)
            totals[region] += users
        if not any(totals.values()):
            raise PlacementError(
                "no_expected_users",
                "users_by_country counts no users, so no region is nearest them; "
                "count at least one, or pin the site with `region`",
            )
        return max(totals, key=lambda name: totals[name])


def _parse(document: Mapping[str, Any]) -> Topology:
    raw_regions = document.get("regions")
    if not isinstance(raw_regions, dict) or not raw_regions:
        raise TopologyError("the topology needs at least one [regions.<name>] table")
    regions: dict[str, Region] = {}
    shards: dict[str, Shard] = {}
    for region_name, raw in raw_regions.items():
        if not _NAME.match(region_name):
            raise TopologyError(f"region name {region_name!r} is not a lowercase identifier")
        zones = tuple(raw.get("zones", ()))
        if not zones or not all(isinstance(zone, str) for zone in zones):
            raise TopologyError(f"region {region_name!r} needs zones, a list of names")
        region_shards = []
        for raw_shard in raw.get("shards", ()):
            name, zone = raw_shard.get("name", ""), raw_shard.get("zone", "")
            if not _NAME.match(name) or name in shards or name == "global":
                raise TopologyError(f"shard name {name!r} is invalid or used twice")
            if zone not in zones:
                raise TopologyError(f"shard {name!r} names zone {zone!r}, not in {region_name!r}")
            dsn = _dsn(f"shard {name!r}", raw_shard.get("dsn"))
            shard = Shard(name=name, region=region_name, zone=zone, dsn=dsn)
            shards[name] = shard
            region_shards.append(shard)
        if not region_shards:
            raise TopologyError(f"region {region_name!r} has no shards")
        regions[region_name] = Region(region_name, zones, tuple(region_shards))
    placement = document.get("placement", {})
    default_region = placement.get("default_region", next(iter(regions)))
    if default_region not in regions:
        raise TopologyError(f"default_region {default_region!r} is not a region")
    countries: dict[str, str] = {}
    for country, region_name in placement.get("countries", {}).items():
        if not _COUNTRY.match(country) or region_name not in regions:
            raise TopologyError(f"placement entry {country} = {region_name!r} is invalid")
        countries[country] = region_name
    raw_limits = document.get("edge", {}).get("limits", {})
    defaults = EdgeLimits()
    limits = EdgeLimits(
        per_tenant=str(raw_limits.get("per_tenant", defaults.per_tenant)),
        per_client_ip=str(raw_limits.get("per_client_ip", defaults.per_client_ip)),
        login_failures_per_account=str(
            raw_limits.get("login_failures_per_account", defaults.login_failures_per_account)
        ),
        login_failures_per_client_ip=str(
            raw_limits.get("login_failures_per_client_ip", defaults.login_failures_per_client_ip)
        ),
        max_in_flight=raw_limits.get("max_in_flight", defaults.max_in_flight),
        head_timeout=_seconds(raw_limits, "head_timeout", defaults.head_timeout),
        body_timeout=_seconds(raw_limits, "body_timeout", defaults.body_timeout),
        connections_per_client=raw_limits.get(
            "connections_per_client", defaults.connections_per_client
        ),
    )
    if not isinstance(limits.max_in_flight, int) or limits.max_in_flight < 0:
        raise TopologyError("[edge.limits] max_in_flight must be a whole number, 0 for the default")
    per_client = limits.connections_per_client
    if isinstance(per_client, bool) or not isinstance(per_client, int) or per_client < 0:
        raise TopologyError(
            "[edge.limits] connections_per_client must be a whole number, 0 for no cap"
        )
    edge_ports = _edge_ports(document.get("edge", {}).get("ports", {}), regions)
    global_dsn = _dsn("[global]", document.get("global", {}).get("dsn"))
    _check_dsns_all_or_none(global_dsn, shards)
    pool_size = document.get("postgres", {}).get("pool_size", DEFAULT_POOL_SIZE)
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 0 <= pool_size <= 64:
        raise TopologyError("[postgres] pool_size must be a whole number from 0 to 64")
    role_prefix = document.get("postgres", {}).get("role_prefix", DEFAULT_ROLE_PREFIX)
    if not isinstance(role_prefix, str) or not _ROLE_PREFIX.match(role_prefix):
        raise TopologyError(
            f"[postgres] role_prefix {role_prefix!r} must match {_ROLE_PREFIX.pattern}"
        )
    return Topology(
        regions,
        countries,
        default_region,
        shards,
        limits,
        global_dsn,
        role_prefix,
        edge_ports,
        _backup(document.get("backup", {})),
        _retention(document.get("retention", {})),
        pool_size,
        _moves(document.get("moves", {})),
        _transfers(document.get("transfers", {}), regions),
    )


_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _backup(raw: Mapping[str, Any]) -> BackupConfig:
    """`[backup]`: two repositories (or none, for the defaults), retention days, a UTC time."""
    repositories = raw.get("repositories", [])
    if not isinstance(repositories, list) or not all(
        isinstance(r, str) and r.strip() for r in repositories
    ):
        raise TopologyError("[backup] repositories must be a list of two directory paths")
    if (repositories and len(repositories) != 2) or len(set(repositories)) != len(repositories):
        raise TopologyError("[backup] repositories names two different directories, or none")
    days = raw.get("retention_days", 30)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise TopologyError("[backup] retention_days must be a whole number of days, 1 to 3650")
    time = raw.get("full_backup_time", "02:00")
    if not isinstance(time, str) or not _CLOCK.match(time):
        raise TopologyError("[backup] full_backup_time must be a UTC time of day, HH:MM")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TopologyError("[backup] enabled must be true or false")
    return BackupConfig(tuple(repositories), days, time, enabled)


def _retention(table: Mapping[str, Any]) -> Retention:
    """`[retention]`: days (0 or more, fractions allowed) each kind of deleted thing is kept."""
    defaults = Retention()
    days: dict[str, float] = {}
    for name in ("site_grace_days", "trash_days"):
        value = table.get(name, getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise TopologyError(f"[retention] {name} must be a number of days, 0 or more")
        days[name] = float(value)
    return Retention(**days)


def _moves(table: Mapping[str, Any]) -> Moves:
    """`[moves]`: hours an old copy is kept (0 or more), seconds a catch-up may take (over 0)."""
    defaults = Moves()
    keep = table.get("keep_source_hours", defaults.keep_source_hours)
    if isinstance(keep, bool) or not isinstance(keep, int | float) or not 0 <= keep <= 24 * 3650:
        raise TopologyError("[moves] keep_source_hours must be a number of hours, 0 or more")
    catch_up = table.get("catch_up_seconds", defaults.catch_up_seconds)
    if (
        isinstance(catch_up, bool)
        or not isinstance(catch_up, int | float)
        or not 0 < catch_up <= 86_400
    ):
        raise TopologyError("[moves] catch_up_seconds must be a number of seconds, 0 to 86400")
    unknown = sorted(set(table) - {"keep_source_hours", "catch_up_seconds"})
    if unknown:
        raise TopologyError(f"[moves] has no setting {unknown[0]!r}")
    return Moves(float(keep), float(catch_up))


def _transfers(table: Mapping[str, Any], regions: Mapping[str, Region]) -> Transfers:
    """`[transfers]`: a default basis, `[transfers.pairs.<source>] <destination> = basis`, and
    `flush_seconds`; every basis one of `adequacy`, `scc`, `none`."""
    if not isinstance(table, dict):
        raise TopologyError("[transfers] must be a table")
    unknown = sorted(set(table) - {"default", "pairs", "flush_seconds"})
    if unknown:
        raise TopologyError(f"[transfers] has no setting {unknown[0]!r}")
    choices = ", ".join(LEGAL_BASES)
    default = table.get("default", SCC)
    if default not in LEGAL_BASES:
        raise TopologyError(f"[transfers] default {default!r} is not a legal basis ({choices})")
    flush = table.get("flush_seconds", Transfers().flush_seconds)
    if isinstance(flush, bool) or not isinstance(flush, int | float) or not 0 < flush <= 3600:
        raise TopologyError("[transfers] flush_seconds must be a number of seconds, 0 to 3600")
    raw_pairs = table.get("pairs", {})
    if not isinstance(raw_pairs, dict):
        raise TopologyError("[transfers.pairs] must be a table of source regions")
    pairs: dict[tuple[str, str], str] = {}
    for source, destinations in raw_pairs.items():
        if source not in regions:
            raise TopologyError(f"[transfers.pairs] names {source!r}, which is not a region")
        if not isinstance(destinations, dict):
            raise TopologyError(f"[transfers.pairs.{source}] must map regions to a legal basis")
        for destination, basis in destinations.items():
            if destination not in regions:
                raise TopologyError(
                    f"[transfers.pairs.{source}] names {destination!r}, which is not a region"
                )
            if destination == source:
                raise TopologyError(
                    f"[transfers.pairs.{source}] names {source!r} itself: "
                    "data staying in its region is no transfer"
                )
            if basis not in LEGAL_BASES:
                raise TopologyError(
                    f"[transfers.pairs.{source}] {destination} = {basis!r} is not a legal basis "
                    f"({choices})"
                )
            pairs[(source, destination)] = basis
    return Transfers(default, pairs, float(flush))


def _edge_ports(raw: Mapping[str, Any], regions: Mapping[str, Region]) -> dict[str, int]:
    """`[edge] ports = { eu = 8443 }`: each named region's edge port, all distinct."""
    ports: dict[str, int] = {}
    for region, port in raw.items():
        if region not in regions:
            raise TopologyError(f"[edge] ports names {region!r}, which is not a region")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise TopologyError(f"[edge] ports: {region} = {port!r} is not a port (1-65535)")
        if port in ports.values():
            raise TopologyError(f"[edge] ports: {port} is given to more than one region")
        ports[region] = port
    return ports


def _seconds(table: Mapping[str, Any], name: str, default: float) -> float:
    """A positive number of seconds from `[edge.limits]`, or `default` when it is not given."""
    value = table.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise TopologyError(f"[edge.limits] {name} must be a number of seconds above 0")
    return float(value)


def _dsn(owner: str, value: object) -> str | None:
    """A PostgreSQL DSN as written in the file, or None when there is none."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(_DSN_SCHEMES):
        raise TopologyError(f"{owner} dsn must be a string starting with postgresql://")
    return value


def _check_dsns_all_or_none(global_dsn: str | None, shards: Mapping[str, Shard]) -> None:
    """Refuse a cloud that would keep some databases in SQLite files and some in PostgreSQL."""
    missing = [f"shard {name!r}" for name, shard in shards.items() if shard.dsn is None]
    if global_dsn is None:
        missing.insert(0, "[global]")
    if missing and len(missing) < len(shards) + 1:
        raise TopologyError(
            "either every shard and [global] have a PostgreSQL dsn, or none do; "
            f"missing for: {', '.join(missing)}"
        )


def load_topology(path: Path | None = None) -> Topology:
    """Read the topology from `path`, or the built-in default when no path is given."""
    if path is None:
        text = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise TopologyError(f"cannot read topology {path}: {exc.strerror}") from exc
    try:
        return _parse(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"topology is not valid TOML: {exc}") from exc
    except (TypeError, AttributeError) as exc:
        # A value of the wrong kind where a table, list or string belongs (`zones = 3`).
        raise TopologyError(
            f"topology has a value of the wrong type ({exc}); compare it with the built-in "
            "default_topology.toml"
        ) from None
