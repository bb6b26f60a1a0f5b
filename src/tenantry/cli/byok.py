"""`tenantry keys byok SITE --aws-kms-key ARN`: a site's data keys under the customer's own key.

The operator asks tcs for the site's signed tenant context, then asks the site's kms to try the
customer's key and rewrap every version of the site's data key under it (or, with `--off`, back
under the region's root key). Nothing is re-encrypted and the site is served throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tenantry.cli.operator_calls import run_as_operator
from tenantry.platform.client import ServiceClient, ServiceResponse

BYOK_TIMEOUT_SECONDS = 120.0  # the customer's KMS is asked once per data key version


class ByokFailed(Exception):
    """A step was refused; the message says which and why."""


def set_customer_key(data_dir: Path, site: str, key_ref: str | None) -> dict[str, Any]:
    """Put `site`'s keys under `key_ref` (None: the root key); kms's answer."""
    return run_as_operator(
        data_dir, lambda client: _switch(client, site, key_ref), BYOK_TIMEOUT_SECONDS
    )


async def _switch(client: ServiceClient, site: str, key_ref: str | None) -> dict[str, Any]:
    found = _ok(
        await client.call("tcs", "GET", "/tenants/by-site/{site}", params={"site": site}),
        "site lookup",
    )
    tenant: dict[str, Any] = {
        "region": found["region"],
        "tenant_context": found["context"],
        "tenant_id": found["cloud_id"],
    }
    if key_ref is None:
        return _ok(await client.call("kms", "DELETE", "/kms/byok", **tenant), "kms")
    return _ok(
        await client.call("kms", "POST", "/kms/byok", json={"aws_kms_key": key_ref}, **tenant),
        "kms",
    )


def _ok(response: ServiceResponse, step: str) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status == 200 and isinstance(document, dict):
        return document
    if isinstance(document, dict) and "error" in document:
        raise ByokFailed(f"{step}: {document['error']}: {document.get('message', '')}")
    raise ByokFailed(f"{step} answered {response.status}")
