"""kms as the registry sees it: one per region, on the global database and on every shard."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.kms.models import SCHEMA
from tenantry.services.kms.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.kms.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.kms.backup_key_routes import build_backup_key_router
    from tenantry.services.kms.byok_routes import build_byok_router
    from tenantry.services.kms.key_moves import build_key_move_router
    from tenantry.services.kms.owner_routes import build_owner_router
    from tenantry.services.kms.routes import build_router

    return (
        build_router,
        build_owner_router,
        build_byok_router,
        build_backup_key_router,
        build_key_move_router,
    )


SPEC = ServiceSpec(
    name="kms",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    global_database=True,
    shard_databases=True,
    routers=_routers,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"customer-key-watch", "audit-outbox"}),
)
