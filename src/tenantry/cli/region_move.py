"""What a tenant move between regions does beyond copying rows: the calls it makes.

Rows move the same way between regions as between shards. The rest belongs to services, so
the mover asks them: the source region's media sends the tenant's blobs to the target region's
media store (once before the freeze, then again while frozen for what changed meanwhile, which
also proves every blob is there with the source's digest); the target region's kms takes over
the tenant's data keys from the source region's kms and wraps them under its own root key
(keys under the customer's own key stay under it). Neither ever passes a key or a blob through
the mover. A pair of regions whose legal basis is `none` (`[transfers]`) is refused before
anything is copied; a move that switched is recorded as a transfer at the new region's privacy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenantry.cli.backup import BackupCommandError
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator
from tenantry.cli.site_calls import OperatorCallFailed, site_context
from tenantry.platform.client import ServiceClient, ServiceResponse

CALL_SECONDS = 120.0
"""A blob copy or key hand-over of a big tenant takes a while; the mover waits for it."""


class TargetUnreachable(BackupCommandError):
    """A service the move needs did not answer, or refused: nothing has switched."""


def pinned(data_dir: Path, site: str) -> bool:
    """Whether tcs has the site pinned to its region since its sign-up."""
    answer = _run(
        data_dir,
        "pinned lookup",
        lambda client: client.call(
            "tcs", "GET", "/internal/tcs/tenants/{site}", params={"site": site}
        ),
    )
    return bool(answer.get("pinned"))


def register(data_dir: Path, move: dict[str, Any]) -> None:
    """Tell tcs where the move copies the tenant, before anything is copied: kms and media
    check it before they hand the tenant's keys or blobs to another region, and tcs takes the
    switch only of a registered move."""
    body: dict[str, Any] = {"from_shard": move["from_shard"], "to_shard": move["to_shard"]}
    if move.get("to_region", move["region"]) != move["region"]:
        body["to_region"] = move["to_region"]
    _run(
        data_dir,
        "registration of the move with tcs",
        lambda client: client.call(
            "tcs",
            "PUT",
            "/internal/tcs/tenants/{site}/move",
            params={"site": move["site"]},
            json=body,
        ),
    )


def forget(data_dir: Path, move: dict[str, Any]) -> None:
    """Tell tcs the move stopped without switching (so nothing more goes to its target)."""
    _run(
        data_dir,
        "end of the move at tcs",
        lambda client: client.call(
            "tcs", "DELETE", "/internal/tcs/tenants/{site}/move", params={"site": move["site"]}
        ),
    )


def send_blobs(data_dir: Path, move: dict[str, Any]) -> dict[str, Any]:
    """Have the source region's media make the target region's store hold every blob of the
    tenant; the number of blobs and bytes there, and how many were sent this time."""
    body = {"shard": move["from_shard"], "to_region": move["to_region"]}
    return _run(
        data_dir,
        f"media blob copy from {move['region']}",
        lambda client: client.call(
            "media",
            "POST",
            "/internal/media/moves/{cloud_id}/send",
            params={"cloud_id": move["cloud_id"]},
            json=body,
            region=move["region"],
        ),
    )


def adopt_keys(data_dir: Path, move: dict[str, Any]) -> dict[str, Any]:
    """Have the target region's kms take over the tenant's data keys from the source's."""
    body = {
        "shard": move["to_shard"],
        "from_region": move["region"],
        "from_shard": move["from_shard"],
    }
    return _run(
        data_dir,
        f"key hand-over to kms in {move['to_region']}",
        lambda client: client.call(
            "kms",
            "POST",
            "/internal/kms/moves/{cloud_id}/adopt",
            params={"cloud_id": move["cloud_id"]},
            json=body,
            region=move["to_region"],
        ),
    )


def record_transfer(data_dir: Path, move: dict[str, Any], legal_basis: str, at: float) -> None:
    """Record the move as a transfer of the site's data out of its old region, at the privacy
    service of its new home region (the site's transfer records, `GET /rest/privacy/transfers`)."""
    rows = move.get("rows", {})
    volume = sum(rows.values()) if isinstance(rows, dict) else 0
    day = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
    record = {
        "kind": "move",
        "category": "site data",
        "source_region": move["region"],
        "destination_region": move["to_region"],
        "legal_basis": legal_basis,
        "outcome": "transferred",
        "day": day,
        "volume": max(volume, 1),
        "volume_unit": "rows",
        "first_at": at,
        "last_at": at,
    }

    async def call(client: ServiceClient) -> ServiceResponse:
        try:
            tenant = await site_context(client, move["site"])
        except OperatorCallFailed as exc:
            raise TargetUnreachable(f"the site's context for its transfer record: {exc}") from None
        return await client.call(
            "privacy",
            "POST",
            "/internal/privacy/transfers",
            json={"records": [record]},
            **tenant.call_args(),
        )

    _run(data_dir, "transfer record at privacy", call)


def _run(
    data_dir: Path, what: str, call: Callable[[ServiceClient], Awaitable[ServiceResponse]]
) -> dict[str, Any]:
    try:
        answer = run_as_operator(data_dir, call, timeout=CALL_SECONDS)
    except CLOUD_NOT_REACHABLE as exc:
        raise TargetUnreachable(f"the {what} did not get through: {exc}") from None
    if answer.status != 200:
        reason = answer.body[:300].decode(errors="replace")
        raise TargetUnreachable(f"the {what} failed: {answer.status} {reason}")
    found: dict[str, Any] = answer.json()
    return found
