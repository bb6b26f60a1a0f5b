"""What a service is, declared once in its own package, so nothing else has to name it.

Each service package has a `spec.py` holding one `ServiceSpec`; `tenantry.services.registry`
lists them. The command line reads every fact about a service from there: where it runs, which
databases it keeps and how they are built, its routes (for the policy check), how its app is made,
and which settings only its processes may see.

A spec refers to the service's app and routers through functions that import them when called,
so reading the registry does not load every service's code into every process; nor does it load
the web framework or the server, so `up`, which only reads it, stays small.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tenantry.platform.policy import normalise_pattern

if TYPE_CHECKING:
    from fastapi import APIRouter
    from starlette.routing import BaseRoute

    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.guarded_http import HttpGuards
    from tenantry.platform.personal_data import PersonalData
    from tenantry.platform.public_routes import PublicRoute
    from tenantry.platform.runtime import ServiceRuntime
    from tenantry.platform.storage.migrations import ServiceSchema
    from tenantry.platform.topology import Topology

RouterBuilder = Callable[..., "APIRouter"]
Route = tuple[str, str]
"""A route a service serves: METHOD and its path pattern, `{param}`s renamed to `{}`."""
Forward = tuple[str, str, str]
"""A call a service makes from a table rather than a literal `call`: callee, METHOD, pattern."""
Forwards = Callable[[Sequence["PublicRoute"]], Iterable[Forward]]
"""The calls a service makes from the cloud's public route table (the edge's)."""

PLATFORM_PATHS = frozenset({"/_health", "/_ready", "/_metrics"})
"""Paths every service app answers by itself; they belong to no spec."""
INTERNAL = "/internal/"
"""Routes only other services and the operator call live under `/internal/<service>/`, and no
edge ever forwards a path under it."""


def internal_prefix(service: str) -> str:
    """Where `service`'s internal routes live: `/internal/<service>/`."""
    return f"{INTERNAL}{service}/"


class Placement(StrEnum):
    """Where the instances of a service run."""

    GLOBAL = "global"
    """One instance for the whole cloud (the control plane)."""
    REGIONAL = "regional"
    """One instance per region, serving the tenants homed there."""


class SpecMismatch(RuntimeError):
    """A service's app serves other routes than its spec declares."""


def _no_routers() -> Sequence[RouterBuilder]:
    return ()


def _no_forwards(_table: Sequence[PublicRoute]) -> Iterable[Forward]:
    return ()


def _always(_topology: Topology) -> bool:
    return True


def _internal_guards(_runtime: ServiceRuntime) -> HttpGuards:
    from tenantry.platform.guarded_http import HttpGuards

    return HttpGuards()


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One service: its name, placement, storage, routes, app, and private settings."""

    name: str
    placement: Placement
    create_app: Callable[[ServiceRuntime], ASGIApp]
    """Builds the service's ASGI app for a loaded runtime."""
    schema: ServiceSchema | None = None
    """Its tables and revisions; None for a service that keeps no database."""
    global_database: bool = False
    """Keeps a database on the cloud's global database."""
    shard_databases: bool = False
    """Keeps a database on every shard (of its region, once running)."""
    routers: Callable[[], Sequence[RouterBuilder]] = _no_routers
    """The builders of every router its app serves: the policy check reads these."""
    public_routes: tuple[PublicRoute, ...] = ()
    """Its URLs that every edge exposes to clients (`tenantry.platform.public_routes`)."""
    forwards: Forwards = _no_forwards
    """Calls it makes from the cloud's public route table (the edge's), beside its literal
    calls."""
    private_env_prefix: str | None = None
    """Environment variables starting with this reach this service's processes only."""
    public: bool = False
    """It is what clients connect to (the edge): its URLs are published in `cloud.json`."""
    listener_guards: Callable[[ServiceRuntime], HttpGuards] = _internal_guards
    """How its listener treats slow or greedy clients (a public one caps each address)."""
    runs_in: Callable[[Topology], bool] = _always
    """Whether a cloud of the topology runs it at all (backups can be turned off)."""
    personal_data: PersonalData | None = None
    """The personal data it keeps, table by table (`tenantry.platform.personal_data`); the
    policy check fails for a service that leaves it None."""
    loops: frozenset[str] = frozenset()
    """The names of the background loops its app may run (`tenantry.platform.background`); an
    app running a loop not named here does not start."""

    def __post_init__(self) -> None:
        if self.schema is None and (self.global_database or self.shard_databases):
            raise ValueError(f"{self.name} keeps databases but declares no schema")
        if self.schema is not None and self.schema.service != self.name:
            raise ValueError(f"{self.name}'s schema is named {self.schema.service!r}")
        if self.schema is not None and not (self.global_database or self.shard_databases):
            raise ValueError(f"{self.name} declares a schema but no database to keep it in")
        for route in self.public_routes:
            if route.service != self.name:
                raise ValueError(f"{self.name} declares a public route of {route.service}")

    @property
    def is_global(self) -> bool:
        """True for a service with one instance for the whole cloud."""
        return self.placement is Placement.GLOBAL


def declared_routes(spec: ServiceSpec) -> set[Route]:
    """Every route the spec's routers declare (building a router touches none of its
    dependencies, so placeholders stand in for them)."""
    routes: set[Route] = set()
    for build in spec.routers():
        placeholders: list[Any] = [None] * len(inspect.signature(build).parameters)
        routes |= _routes_of(build(*placeholders).routes)
    return routes


def served_routes(app: object) -> set[Route]:
    """Every route an app serves, less the platform's own endpoints."""
    routes: Sequence[BaseRoute] = getattr(app, "routes", ())
    return _routes_of(routes)


def running_loops(app: object) -> tuple[str, ...]:
    """The names of the background loops an app runs: its `background_loops` (the platform's
    app builder keeps them in `state`), looked for through the middleware wrapping it."""
    layer: object | None = app
    while layer is not None:
        names = getattr(getattr(layer, "state", None), "background_loops", None)
        names = names if names is not None else getattr(layer, "background_loops", None)
        if names is not None:
            return tuple(names)
        layer = getattr(layer, "app", None)
    return ()


def _routes_of(routes: Sequence[BaseRoute]) -> set[Route]:
    """The API routes among `routes`, included routers' routes with their prefixes (not the
    platform's endpoints, not the OpenAPI document)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    return {
        (method, normalise_pattern(context.path))
        for context in iter_route_contexts(routes)
        if isinstance(context.original_route, APIRoute)
        and context.path is not None
        and context.path not in PLATFORM_PATHS
        for method in context.methods or ()
    }


def build_app(spec: ServiceSpec, runtime: ServiceRuntime) -> ASGIApp:
    """The service's app for `runtime`, refused if it serves other routes than its spec says.

    So the routes the policy check reads are exactly those served: a router added to an app but
    not to its spec (or the other way round) stops the service at start, naming the routes.
    """
    if runtime.service != spec.name:
        raise ValueError(f"a runtime of {runtime.service} cannot run {spec.name}")
    app = spec.create_app(runtime)
    undeclared_loops = sorted(set(running_loops(app)) - spec.loops)
    if undeclared_loops:
        raise SpecMismatch(f"{spec.name} runs loops its spec does not declare: {undeclared_loops}")
    served, declared = served_routes(app), declared_routes(spec)
    if served != declared:
        undeclared = sorted(f"{m} {p}" for m, p in served - declared)
        unserved = sorted(f"{m} {p}" for m, p in declared - served)
        raise SpecMismatch(
            f"{spec.name} serves routes its spec does not declare: {undeclared or 'none'}; "
            f"its spec declares routes it does not serve: {unserved or 'none'}"
        )
    return app
