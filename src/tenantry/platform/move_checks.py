"""What a service holding a tenant's keys or blobs asks tcs before it hands them to a move.

Every region's kms (and media) signs its calls as the same service, so a caller's word on
which region it serves proves nothing. The service holding the data therefore asks tcs,
itself, where the tenant lives and where its registered move goes (the operator's move
registers its target with tcs before anything is copied), and sends only there: the caller
can name neither the destination nor the tenant's home.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError

NOT_MOVING = "tenant_not_moving"
"""tcs has no move of the tenant under way."""
MOVING_ELSEWHERE = "move_elsewhere"
"""The tenant's move under way goes from or to another region (or shard) than the call says."""
LIVES_HERE = "tenant_lives_here"
"""The data asked to be removed is the tenant's live copy (or a move is taking it there)."""


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """A tenant's home as tcs has it, and the target of its move under way."""

    cloud_id: str
    region: str
    shard: str
    to_region: str
    to_shard: str


@dataclass(frozen=True, slots=True)
class TenantHome:
    """A tenant's home as tcs has it, and the target of its move under way, if any."""

    cloud_id: str
    region: str
    shard: str
    to_region: str | None
    to_shard: str | None


async def tenant_home(client: ServiceClient, cloud_id: str) -> TenantHome | None:
    """The tenant's home and move under way as tcs records them (None: tcs knows it not)."""
    found = await client.call(
        "tcs",
        "GET",
        "/internal/tcs/tenants/by-cloud-id/{cloud_id}/move",
        params={"cloud_id": cloud_id},
    )
    if found.status == 404:
        return None
    if found.status != 200:
        raise ApiError(503, "tcs_unavailable", f"tcs answered {found.status} about the move")
    body = found.json()
    move = body.get("move") if isinstance(body.get("move"), dict) else {}
    return TenantHome(
        str(body["cloud_id"]),
        str(body["region"]),
        str(body["shard"]),
        None if not move else str(move["to_region"]),
        None if not move else str(move["to_shard"]),
    )


async def registered_move(client: ServiceClient, cloud_id: str) -> MoveRecord:
    """The tenant's move under way as tcs records it; 403 `tenant_not_moving` if none."""
    home = await tenant_home(client, cloud_id)
    if home is None:
        raise ApiError(403, NOT_MOVING, "tcs knows no such tenant")
    if home.to_region is None or home.to_shard is None:
        raise ApiError(403, NOT_MOVING, "tcs records no move of this tenant under way")
    return MoveRecord(home.cloud_id, home.region, home.shard, home.to_region, home.to_shard)


async def check_gone_from(client: ServiceClient, cloud_id: str, region: str) -> None:
    """Refuse (409 `tenant_lives_here`) unless the tenant neither lives in `region` nor is
    moving into it: its data there is an old copy, safe to remove."""
    home = await tenant_home(client, cloud_id)
    if home is not None and region in (home.region, home.to_region):
        raise ApiError(
            409, LIVES_HERE, f"the tenant lives in {home.region}, or is moving to {region}"
        )


def check_leaves(move: MoveRecord, region: str, shard: str | None = None) -> None:
    """Refuse unless the tenant lives in `region` (on `shard`, if named) and moves out of it."""
    if move.region != region or (shard is not None and move.shard != shard):
        raise ApiError(
            403, MOVING_ELSEWHERE, f"the tenant does not live on {shard or region} ({move.shard})"
        )
    if move.to_region == region:
        raise ApiError(403, MOVING_ELSEWHERE, "the tenant's move stays in this region")


def check_arrives(move: MoveRecord, region: str, shard: str | None = None) -> None:
    """Refuse unless the tenant's move goes into `region` (onto `shard`, if named) from
    another region."""
    if move.to_region != region or (shard is not None and move.to_shard != shard):
        raise ApiError(
            403,
            MOVING_ELSEWHERE,
            f"the tenant is moving to {move.to_shard} in {move.to_region}, not here",
        )
    if move.region == region:
        raise ApiError(403, MOVING_ELSEWHERE, "the tenant's move stays in this region")
