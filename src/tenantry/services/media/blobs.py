"""The media store as media uses it: every blob encrypted under the tenant's data key.

Each blob is one STREAM (`tenantry.platform.crypto.stream`): chunked AES-256-GCM frames bound
to their index, to the end of the stream, and to the tenant, collection and object they belong
to, so a blob copied to another file, another tenant, or reordered, cut or altered fails to open.
Keys in the store are built from ids only, never from names a client chose.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tenantry.platform.blobstore import BlobStore
from tenantry.platform.crypto import (
    CiphertextRejected,
    DataKey,
    KeyLookup,
    decrypt_stream,
    encrypt_stream,
)
from tenantry.platform.errors import ApiError
from tenantry.platform.logs import security_event


def original(file_id: str) -> str:
    """The object name of a file's original bytes."""
    return f"{file_id}/original"


def preview(file_id: str, page: int) -> str:
    """The object name of a file's preview page (from 1)."""
    return f"{file_id}/preview/{page}"


def thumbnail(file_id: str) -> str:
    """The object name of a file's thumbnail."""
    return f"{file_id}/thumbnail"


def chunk(upload_id: str, index: int) -> str:
    """The object name of one received chunk of an upload."""
    return f"uploads/{upload_id}/{index}"


class EncryptedBlobs:
    """Write and read a tenant's objects through one blob store, sealed on the way in."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def write(
        self, key: DataKey, tenant: str, collection: str, name: str, chunks: Iterable[bytes]
    ) -> int:
        """Encrypt `chunks` as object `name` of `collection` and store it; the stored size."""
        sealed = encrypt_stream(
            key, chunks, tenant_id=tenant, collection=collection, object_id=name
        )
        return self.store.put_chunks(f"{tenant}/{name}", sealed)

    def read(self, keys: KeyLookup, tenant: str, collection: str, name: str) -> Iterator[bytes]:
        """The plaintext of object `name`, frame by frame (see `read_all` for all-or-nothing).

        Raises KeyError (at once) when the object is missing, and ApiError 500
        `ciphertext_rejected` (while iterating) when it fails its integrity check.
        """
        stored = self.store.open(f"{tenant}/{name}")
        return _guarded(
            decrypt_stream(keys, stored, tenant_id=tenant, collection=collection, object_id=name),
            tenant,
            name,
        )

    def read_all(self, keys: KeyLookup, tenant: str, collection: str, name: str) -> bytes:
        """The whole plaintext, returned only once every frame has authenticated."""
        return b"".join(self.read(keys, tenant, collection, name))

    def delete(self, tenant: str, name: str) -> None:
        """Remove one object."""
        self.store.delete(f"{tenant}/{name}")

    def delete_tree(self, tenant: str, prefix: str) -> None:
        """Remove every object under `prefix/`."""
        self.store.delete_prefix(f"{tenant}/{prefix}")


def _guarded(frames: Iterator[bytes], tenant: str, name: str) -> Iterator[bytes]:
    try:
        yield from frames
    except CiphertextRejected as exc:
        security_event("ciphertext_rejected", tenant_id=tenant, object=name, why=exc.reason)
        raise ApiError(
            500, "ciphertext_rejected", "stored data failed its integrity check"
        ) from None
