"""media as the registry sees it: one per region, a database per shard, and the media store,
whose settings (`TENANTRY_MEDIA_*`) reach media's processes only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tenantry.platform.service_spec import Placement, RouterBuilder, ServiceSpec
from tenantry.services.media.models import SCHEMA
from tenantry.services.media.personal_data import PERSONAL_DATA

if TYPE_CHECKING:
    from tenantry.platform.asgi import ASGIApp
    from tenantry.platform.runtime import ServiceRuntime

ENV_PREFIX = "TENANTRY_MEDIA_"


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.media.app import create_app

    return create_app(runtime)


def _routers() -> Sequence[RouterBuilder]:
    from tenantry.services.media.blob_moves import build_blob_move_router
    from tenantry.services.media.privacy_routes import build_privacy_router
    from tenantry.services.media.reseal import build_reseal_router
    from tenantry.services.media.routes import build_router

    return (build_router, build_reseal_router, build_blob_move_router, build_privacy_router)


SPEC = ServiceSpec(
    name="media",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    schema=SCHEMA,
    shard_databases=True,
    routers=_routers,
    private_env_prefix=ENV_PREFIX,
    personal_data=PERSONAL_DATA,
)
