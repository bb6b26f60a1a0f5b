"""`tenantry tenant delete`, `undelete` and `purge`: a site's deletion, undoable until purged.

Deleting makes a site unreachable at every edge within a second (it answers as an unknown site),
and tcs purges it when its grace period (`[retention] site_grace_days`) ends; until then
`undelete` brings it back whole. Purging crypto-shreds it: its rows, blobs and backups stay where
they are, but the only copies of the keys that open them are erased in its region's kms, so no
one can read them again, and the site can never be served again. tcs does the purge, whether
the grace ended or the operator asked (`purge --yes`); cut short, the command is simply run again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantry.cli.operator_calls import run_as_operator
from tenantry.cli.site_calls import OperatorCallFailed, answer
from tenantry.platform.client import ServiceClient, ServiceResponse

PURGE_SECONDS = 30.0
"""A purge waits on the site's kms; it may take longer than an ordinary operator call."""


def delete_site(data_dir: Path, site: str) -> dict[str, Any]:
    """Delete `site` undoably; its catalog row, with `purge_at` (when it will be purged)."""

    async def delete(client: ServiceClient) -> ServiceResponse:
        return await client.call(
            "tcs", "POST", "/internal/tcs/tenants/{site}/delete", params={"site": site}
        )

    return _answer(run_as_operator(data_dir, delete), site, "delete")


def undelete_site(data_dir: Path, site: str) -> dict[str, Any]:
    """Bring a deleted `site` back; its catalog row."""

    async def undelete(client: ServiceClient) -> ServiceResponse:
        return await client.call(
            "tcs", "POST", "/internal/tcs/tenants/{site}/undelete", params={"site": site}
        )

    return _answer(run_as_operator(data_dir, undelete), site, "undelete")


def purge_site(data_dir: Path, site: str) -> int | None:
    """Destroy `site`'s data keys and mark it purged; the key versions erased.

    None when the site was purged already: it is marked purged only after its keys are gone.
    """

    async def purge(client: ServiceClient) -> ServiceResponse:
        return await client.call(
            "tcs", "POST", "/internal/tcs/tenants/{site}/purge", params={"site": site}
        )

    done = _answer(run_as_operator(data_dir, purge, timeout=PURGE_SECONDS), site, "purge")
    destroyed = done.get("destroyed")
    return None if destroyed is None else int(destroyed)


def _answer(response: ServiceResponse, site: str, step: str) -> dict[str, Any]:
    if response.status in (404, 422):
        raise OperatorCallFailed(f"unknown_site: there is no site {site!r}")
    return answer(response, step)
