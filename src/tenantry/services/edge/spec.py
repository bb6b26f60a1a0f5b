"""The edge as the registry sees it: one per region, no database, the cloud's public face.

Its routes are not routers but the cloud's public route table (each service declares its own in
its spec), which it forwards: each entry is a call the edge makes, for the policy check to
compare with the allowlist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tenantry.platform.service_spec import Forward, Placement, ServiceSpec
from tenantry.services.edge.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.guarded_http import HttpGuards
    from tenantry.platform.public_routes import PublicRoute
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.edge.app import create_app

    return create_app(runtime)


def _listener_guards(runtime: ServiceRuntime) -> HttpGuards:
    from tenantry.services.edge.listener import edge_guards

    return edge_guards(runtime.topology.edge_limits)


def _forwards(table: Sequence[PublicRoute]) -> Iterable[Forward]:
    """Every public route, and each owner's own API description (for `/openapi.json`)."""
    owners = dict.fromkeys(route.service for route in table)
    return [
        *((route.service, route.method, route.pattern) for route in table),
        *((owner, "GET", "/openapi.json") for owner in owners),
    ]


SPEC = ServiceSpec(
    name="edge",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    forwards=_forwards,
    public=True,
    listener_guards=_listener_guards,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"tenant-feed", "account-feed", "transfer-flush"}),
)
