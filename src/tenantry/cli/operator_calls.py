"""Admin operations the CLI performs on a running cloud, signed with the operator's key."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import KeyFileError, load_service_key
from tenantry.platform.tokens import TokenSigner

OPERATOR = "operator"
CLOUD_NOT_REACHABLE = (
    ApiError,
    aiohttp.ClientError,
    KeyFileError,
    OSError,
    LookupError,
    ValueError,
)
"""What a call to a cloud that is not (fully) running can raise, from the key file to the answer."""
T = TypeVar("T")


def run_as_operator(
    data_dir: Path, call: Callable[[ServiceClient], Awaitable[T]], timeout: float = 5.0
) -> T:
    """Run `call` with a client that signs as the operator, against the cloud of `data_dir`."""

    async def with_client() -> T:
        signer = TokenSigner(load_service_key(data_dir, OPERATOR))
        client = ServiceClient(signer, ServiceDirectory.load(data_dir), timeout=timeout, retries=0)
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(with_client())


def set_tenant_status(data_dir: Path, site: str, status: str) -> ServiceResponse:
    """Suspend or resume a site through tcs."""
    return run_as_operator(
        data_dir,
        lambda client: client.call(
            "tcs",
            "POST",
            "/internal/tcs/tenants/{site}/status",
            params={"site": site},
            json={"status": status},
        ),
    )


def tenant_stats(data_dir: Path) -> ServiceResponse:
    """Tenant counts per shard, from tcs."""
    return run_as_operator(
        data_dir, lambda client: client.call("tcs", "GET", "/internal/tcs/stats")
    )
