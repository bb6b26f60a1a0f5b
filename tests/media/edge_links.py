"""Acting as a browser on media links: tokens minted with the cloud's media key, URLs through the
edge with `?token=` and no other header."""

from __future__ import annotations

import time
from typing import Any

import httpx

from e2e.api import Site
from e2e.cloud import Cloud
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.service_keys import load_service_key
from tenantry.services.media.tokens import MediaTokens

ALL = ("read", "insert", "update", "delete")


def cloud_media_tokens(cloud: Cloud) -> MediaTokens:
    """Tokens exactly as the cloud's media service issues them (same key)."""
    return MediaTokens(
        load_service_key(cloud.data_dir, "media"),
        DirectoryKeyRepository(cloud.data_dir / "keys" / "public"),
    )


def mint(
    cloud: Cloud,
    site: Site,
    collection: str = "issues:OPS-1",
    actions: tuple[str, ...] = ALL,
    role: str = "admin",
    *,
    tenant: str | None = None,
) -> str:
    token, _ = cloud_media_tokens(cloud).issue(
        tenant=tenant or site.cloud_id,
        site=site.name,
        collection=collection,
        actions=actions,
        role=role,
    )
    return token


def bare(cloud: Cloud, region: str = "eu") -> httpx.Client:
    """A client that sends no site header and no Authorization: a plain link."""
    return cloud.http(region)


def wait_until_processed(http: httpx.Client, file_id: str, token: str) -> dict[str, Any]:
    """Poll a file's status until processing has finished (bounded: never hangs a run)."""
    deadline = time.monotonic() + 120
    while True:
        found = http.get(f"/rest/media/files/{file_id}", params={"token": token})
        assert found.status_code == 200, found.text
        document: dict[str, Any] = found.json()
        if document["status"] != "pending" or time.monotonic() > deadline:
            return document
        time.sleep(0.2)
