"""`tenantry tenant purge SITE --yes`: erase a site for good by destroying its data keys.

Crypto-shredding: the site's rows, blobs and backups stay where they are, but the only copies of
the keys that open them are erased in its region's kms, so no one can read them again. Then tcs
marks the site deleted, and every edge stops serving it within a second; a deleted site cannot
be resumed. Cut short, the command is simply run again.
"""

from __future__ import annotations

from pathlib import Path

from tenantry.cli.operator_calls import run_as_operator
from tenantry.cli.site_calls import answer, site_context
from tenantry.platform.client import ServiceClient

DELETED = "deleted"


def purge_site(data_dir: Path, site: str) -> int | None:
    """Destroy `site`'s data keys, then delete it in tcs; the key versions erased.

    None when the site was purged already: it is deleted only after its keys are gone.
    """
    return run_as_operator(data_dir, lambda client: _purge(client, site))


async def _purge(client: ServiceClient, site: str) -> int | None:
    tenant = await site_context(client, site)
    if tenant.status == DELETED:
        return None
    destroyed = answer(
        await client.call("kms", "POST", "/internal/kms/data-key/destroy", **tenant.call_args()),
        "kms",
    )
    deleted = {"status": DELETED}
    answer(
        await client.call(
            "tcs",
            "POST",
            "/internal/tcs/tenants/{site}/status",
            params={"site": site},
            json=deleted,
        ),
        "tcs",
    )
    return int(destroyed["destroyed"])
