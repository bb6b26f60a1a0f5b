"""Root key operations the CLI performs on a running cloud's kms services, as the operator."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tenantry.cli.operator_calls import run_as_operator
from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.directory import ServiceDirectory

LIST_TIMEOUT_SECONDS = 10.0
# A rotation rewraps every data key of the region before it answers.
ROTATE_TIMEOUT_SECONDS = 600.0


def kms_regions(data_dir: Path) -> list[str]:
    """The regions whose kms the running cloud of `data_dir` has, in name order."""
    return sorted(ServiceDirectory.load(data_dir).services.get("kms", {}))


def list_root_keys(data_dir: Path) -> dict[str, ServiceResponse]:
    """Every region's root key versions, asked of each region's kms at once."""
    regions = kms_regions(data_dir)

    async def ask_all(client: ServiceClient) -> dict[str, ServiceResponse]:
        answers = await asyncio.gather(
            *(
                client.call("kms", "GET", "/internal/kms/root-keys", region=region)
                for region in regions
            )
        )
        return dict(zip(regions, answers, strict=True))

    return run_as_operator(data_dir, ask_all, LIST_TIMEOUT_SECONDS)


def rotate_root_key(data_dir: Path, region: str, owner: str | None) -> ServiceResponse:
    """Make `region`'s next root key version, owned by `owner`, and rewrap its data keys."""
    return run_as_operator(
        data_dir,
        lambda client: client.call(
            "kms", "POST", "/internal/kms/root-key/rotate", json={"owner": owner}, region=region
        ),
        ROTATE_TIMEOUT_SECONDS,
    )
