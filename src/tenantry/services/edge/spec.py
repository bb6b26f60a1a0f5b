"""The edge as the registry sees it: one per region, no database, the cloud's public face.

Its routes are not routers but the public route table, which it forwards: each entry is a call
the edge makes, for the policy check to compare with the allowlist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tenantry.platform.service_spec import Forward, Placement, ServiceSpec
from tenantry.services.edge.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.guarded_http import HttpGuards
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.edge.app import create_app

    return create_app(runtime)


def _listener_guards(runtime: ServiceRuntime) -> HttpGuards:
    from tenantry.services.edge.listener import edge_guards

    return edge_guards(runtime.topology.edge_limits)


def _forwards() -> Iterable[Forward]:
    from tenantry.services.edge.public_routes import PUBLIC_ROUTES

    return [(route.service, route.method, route.pattern) for route in PUBLIC_ROUTES]


SPEC = ServiceSpec(
    name="edge",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    forwards=_forwards,
    public=True,
    listener_guards=_listener_guards,
    personal_data=PERSONAL_DATA,
)
