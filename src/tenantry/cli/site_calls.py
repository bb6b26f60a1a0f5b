"""What every operator command that acts on one site needs: its signed context, and plain answers.

The operator reaches a site's data only through the site's services, and those only serve a
request that carries the site's tenant context, signed by tcs. `site_context` fetches it;
`answer` turns a service's reply into its JSON document, or into `OperatorCallFailed` with the
service's own reason, which the command prints before exiting 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse


class OperatorCallFailed(Exception):
    """A service refused a step of an operator command; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SiteContext:
    """A site's id, home region, status and signed tenant context (valid until `expires`)."""

    cloud_id: str
    region: str
    status: str
    context: str
    expires: float

    def call_args(self) -> dict[str, Any]:
        """The keyword arguments that make a `ServiceClient.call` act for this site."""
        return {"region": self.region, "tenant_context": self.context, "tenant_id": self.cloud_id}


async def site_context(client: ServiceClient, site: str) -> SiteContext:
    """The signed context of `site` from tcs; `OperatorCallFailed` for an unknown site."""
    found = await client.call(
        "tcs", "GET", "/internal/tcs/tenants/by-site/{site}", params={"site": site}
    )
    if found.status == 404:
        raise OperatorCallFailed(f"unknown_site: there is no site {site!r}")
    document = answer(found, "site lookup")
    return SiteContext(
        str(document["cloud_id"]),
        str(document["region"]),
        str(document["status"]),
        str(document["context"]),
        float(document["context_expires"]),
    )


def answer(response: ServiceResponse, step: str) -> dict[str, Any]:
    """The JSON document of a 200 answer; otherwise `OperatorCallFailed` naming `step`."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status == 200 and isinstance(document, dict):
        return document
    if isinstance(document, dict) and "error" in document:
        raise OperatorCallFailed(f"{step}: {document['error']}: {document.get('message', '')}")
    raise OperatorCallFailed(f"{step} answered {response.status}")
