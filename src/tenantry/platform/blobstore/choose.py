"""Pick the blob store a process uses from its own environment: a local directory by default.

Settings come from environment variables with a prefix naming the owner (`TENANTRY_MEDIA_`
for media), never from the shared topology file, so no other service's configuration holds the
store's location or credentials; `tenantry up` passes these variables to the owner's processes
only.

    {prefix}STORE                 `local` (default) or `s3`
    {prefix}STORE_DIR             local: the directory (default: the caller's default root)
    {prefix}S3_BUCKET             s3: the bucket (required)
    {prefix}S3_PREFIX             s3: a key prefix inside the bucket (default none)
    {prefix}S3_ENDPOINT_URL       s3: an S3-compatible endpoint (default AWS)
    {prefix}S3_REGION             s3: the bucket's region (default us-east-1)
    {prefix}S3_ACCESS_KEY_ID      s3: credentials (default: boto3's own chain)
    {prefix}S3_SECRET_ACCESS_KEY
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tenantry.platform.blobstore import BlobStore
from tenantry.platform.blobstore.local import LocalBlobStore
from tenantry.platform.blobstore.s3 import S3BlobStore

BACKENDS = ("local", "s3")


class BlobStoreConfigError(ValueError):
    """The blob-store settings are incomplete or name an unknown backend."""


def blob_store_from_env(env: Mapping[str, str], prefix: str, default_root: Path) -> BlobStore:
    """The store `env` describes under `prefix`; a LocalBlobStore at `default_root` by default."""
    backend = env.get(f"{prefix}STORE", "local").strip().lower() or "local"
    if backend == "local":
        directory = env.get(f"{prefix}STORE_DIR")
        return LocalBlobStore(Path(directory) if directory else default_root)
    if backend != "s3":
        raise BlobStoreConfigError(f"{prefix}STORE must be one of {BACKENDS}, not {backend!r}")
    bucket = env.get(f"{prefix}S3_BUCKET")
    if not bucket:
        raise BlobStoreConfigError(f"{prefix}S3_BUCKET is required when {prefix}STORE=s3")
    import boto3  # only processes that use S3 pay for importing boto3

    client = boto3.client(
        "s3",
        endpoint_url=env.get(f"{prefix}S3_ENDPOINT_URL") or None,
        region_name=env.get(f"{prefix}S3_REGION") or "us-east-1",
        aws_access_key_id=env.get(f"{prefix}S3_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get(f"{prefix}S3_SECRET_ACCESS_KEY") or None,
    )
    return S3BlobStore(client, bucket, env.get(f"{prefix}S3_PREFIX", ""))
