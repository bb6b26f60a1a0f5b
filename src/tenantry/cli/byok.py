"""`tenantry keys byok SITE --aws-kms-key ARN`: a site's data keys under the customer's own key.

The operator asks tcs for the site's signed tenant context, then asks the site's kms to try the
customer's key and rewrap every version of the site's data key under it (or, with `--off`, back
under the region's root key). Nothing is re-encrypted and the site is served throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantry.cli.operator_calls import run_as_operator
from tenantry.cli.site_calls import answer, site_context
from tenantry.platform.client import ServiceClient

BYOK_TIMEOUT_SECONDS = 120.0  # the customer's KMS is asked once per data key version


def set_customer_key(data_dir: Path, site: str, key_ref: str | None) -> dict[str, Any]:
    """Put `site`'s keys under `key_ref` (None: the root key); kms's answer."""
    return run_as_operator(
        data_dir, lambda client: _switch(client, site, key_ref), BYOK_TIMEOUT_SECONDS
    )


async def _switch(client: ServiceClient, site: str, key_ref: str | None) -> dict[str, Any]:
    tenant = (await site_context(client, site)).call_args()
    if key_ref is None:
        return answer(await client.call("kms", "DELETE", "/internal/kms/byok", **tenant), "kms")
    return answer(
        await client.call(
            "kms", "POST", "/internal/kms/byok", json={"aws_kms_key": key_ref}, **tenant
        ),
        "kms",
    )
