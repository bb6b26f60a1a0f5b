"""A blob store in an S3 bucket (or any S3-compatible service), through boto3.

Keys live under an optional prefix in one bucket. Large blobs are sent as multipart uploads by
boto3's transfer manager, which S3 makes visible only once complete, so a write is
all-or-nothing as with the local store.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from tenantry.platform.blobstore import check_key

READ_SIZE = 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class S3BlobStore:
    """Blobs as objects `prefix/key` in `bucket`, through a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` in one request."""
        self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)

    def put_chunks(self, key: str, chunks: Iterable[bytes]) -> int:
        """Stream the chunks up (multipart above boto3's threshold); the bytes written."""
        reader = _ChunkReader(iter(chunks))
        self._client.upload_fileobj(reader, self.bucket, self._name(key))
        return reader.total

    def get(self, key: str) -> bytes:
        """The whole object; KeyError when absent."""
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        """The object in READ_SIZE pieces; KeyError (raised here, not later) when absent."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._name(key))
        except self._client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise KeyError(key) from None
            raise
        body = response["Body"]
        return _read_all(body)

    def exists(self, key: str) -> bool:
        """True when the object exists."""
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except self._client.exceptions.ClientError as exc:
            if _error_code(exc) in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        """Delete the object (S3 answers success for a missing one too)."""
        self._client.delete_object(Bucket=self.bucket, Key=self._name(key))

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under `prefix/`, a page of up to 1000 keys at a time."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._name(prefix) + "/"
        )
        for page in pages:
            objects = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if objects:
                self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte strings, for boto3's upload_fileobj."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.total = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.total += size
        return size


def _read_all(body: Any) -> Iterator[bytes]:
    try:
        while chunk := body.read(READ_SIZE):
            yield bytes(chunk)
    finally:
        body.close()


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
