"""Root keys for a single machine, so the key service runs without a cloud KMS.

Root keys live in one JSON file, each encrypted (AES-256-GCM, its name as associated data) under
a 32-byte master key file; a root key's plaintext never touches disk. Key refs look like
`local:<name>`. Destroying a key removes its material and leaves a tombstone, so the name can
never be reused and data wrapped under it stays unreadable for good (crypto-shredding).
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.platform.files import directory_lock, write_atomically
from tenantry.services.kms.providers.protocol import (
    InvalidKeyRequest,
    KeyProviderError,
    KeyState,
    KeyUnavailable,
    UnwrapFailed,
    check_context,
    check_data_key,
)

REF_PREFIX = "local:"
MASTER_KEY_FILE = "master.key"
STORE_FILE = "root-keys.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_KEY_BYTES = 32
_NONCE_BYTES = 12
_WRAP_VERSION = b"\x01"
_ROOT_KEY_AAD = b"tenantry/local-root-key/v1:"
_MAX_STORE_BYTES = 16 * 1024 * 1024

_Entry = dict[str, str]
_Store = dict[str, _Entry]


class LocalKeyStoreError(KeyProviderError):
    """The key directory is unsafe or damaged.

    `reason` is "symlink", "insecure_permissions", "not_owner" or "corrupt".
    """


class LocalKeyProvider:
    """Keeps root keys in `directory` (0700) and wraps tenant data keys under them."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self.directory = directory
        """Where its keys live; kms keeps the region's backup key here too."""
        self._store_path = directory / STORE_FILE
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(directory, os.stat(directory), "key directory", "700")
        with directory_lock(directory):
            self._master = AESGCM(_load_or_create_master_key(directory / MASTER_KEY_FILE))

    def create_key(self, name: str) -> str:
        """Make a new random root key called `name` and return its key ref."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidKeyRequest("invalid_key_ref", "key names are 1-128 of [A-Za-z0-9._-]")
        material = self._seal_root_key(name, secrets.token_bytes(_KEY_BYTES))

        def add(store: _Store) -> None:
            if name in store:
                raise InvalidKeyRequest("key_exists", f"root key {name!r} exists or was destroyed")
            store[name] = {"state": "enabled", "material": material}

        self._update(add)
        return REF_PREFIX + name

    def disable(self, key_ref: str) -> None:
        """Refuse all wraps and unwraps under `key_ref` until it is enabled again."""
        self._set_state(key_ref, "disabled")

    def enable(self, key_ref: str) -> None:
        """Allow a disabled key to be used again."""
        self._set_state(key_ref, "enabled")

    def destroy(self, key_ref: str) -> None:
        """Erase the key's material for good: everything wrapped under it becomes unreadable."""
        name = _parse_ref(key_ref)

        def shred(store: _Store) -> None:
            _existing(store, name)
            store[name] = {"state": "destroyed"}

        self._update(shred)

    def describe(self, key_ref: str) -> KeyState:
        """Report the key's state; destroyed and unknown keys are both MISSING."""
        entry = self._read_store().get(_parse_ref(key_ref))
        if entry is None or entry["state"] == "destroyed":
            return KeyState.MISSING
        return KeyState.DISABLED if entry["state"] == "disabled" else KeyState.ENABLED

    def wrap(self, key_ref: str, plaintext: bytes, context: Mapping[str, str]) -> bytes:
        """Encrypt a data key as version byte, nonce, then AES-256-GCM ciphertext and tag."""
        check_data_key(plaintext)
        aad = _context_aad(check_context(context))
        root = self._usable_root_key(key_ref)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _WRAP_VERSION + nonce + AESGCM(root).encrypt(nonce, plaintext, aad)

    def unwrap(self, key_ref: str, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """Decrypt what `wrap` made under the same key ref and the same context."""
        aad = _context_aad(check_context(context))
        root = self._usable_root_key(key_ref)
        if not isinstance(wrapped, bytes) or wrapped[:1] != _WRAP_VERSION:
            raise UnwrapFailed("the wrapped key is not in a known format")
        nonce, ciphertext = wrapped[1 : 1 + _NONCE_BYTES], wrapped[1 + _NONCE_BYTES :]
        try:
            return AESGCM(root).decrypt(nonce, ciphertext, aad)
        except (InvalidTag, ValueError):
            raise UnwrapFailed(
                f"the wrapped key does not match {key_ref} and this context"
            ) from None

    def _usable_root_key(self, key_ref: str) -> bytes:
        name = _parse_ref(key_ref)
        entry = _existing(self._read_store(), name)
        if entry["state"] == "disabled":
            raise KeyUnavailable("key_disabled", f"root key {key_ref} is disabled")
        return self._open_root_key(name, entry.get("material", ""))

    def _set_state(self, key_ref: str, state: str) -> None:
        name = _parse_ref(key_ref)

        def change(store: _Store) -> None:
            _existing(store, name)["state"] = state

        self._update(change)

    def _seal_root_key(self, name: str, root: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._master.encrypt(nonce, root, _ROOT_KEY_AAD + name.encode())
        return base64.b64encode(sealed).decode("ascii")

    def _open_root_key(self, name: str, material: str) -> bytes:
        try:
            sealed = base64.b64decode(material, validate=True)
            nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
            return self._master.decrypt(nonce, ciphertext, _ROOT_KEY_AAD + name.encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise LocalKeyStoreError(
                "corrupt",
                f"root key {name!r} in {self._store_path} cannot be opened with this master key",
            ) from None

    def _update(self, change: Callable[[_Store], None]) -> None:
        with directory_lock(self._directory):
            store = self._read_store()
            change(store)
            document = {"format": 1, "keys": store}
            write_atomically(self._store_path, json.dumps(document, indent=1).encode(), 0o600)

    def _read_store(self) -> _Store:
        try:
            data = _read_private_file(self._store_path, "root key store", _MAX_STORE_BYTES)
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(data)
            keys = document["keys"]
            valid = document["format"] == 1 and all(
                isinstance(entry, dict)
                and entry.get("state") in {"enabled", "disabled", "destroyed"}
                and all(isinstance(value, str) for value in entry.values())
                for entry in keys.values()
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            valid = False
        if not valid:
            raise LocalKeyStoreError("corrupt", f"{self._store_path} is not a root key store")
        return dict(keys)


def _parse_ref(key_ref: str) -> str:
    valid = isinstance(key_ref, str) and key_ref.startswith(REF_PREFIX)
    name = key_ref[len(REF_PREFIX) :] if valid else ""
    if not _NAME.fullmatch(name):
        raise InvalidKeyRequest("invalid_key_ref", "local key refs look like local:<name>")
    return name


def _existing(store: _Store, name: str) -> _Entry:
    entry = store.get(name)
    if entry is None or entry["state"] == "destroyed":
        raise KeyUnavailable("key_not_found", f"root key {REF_PREFIX}{name} does not exist")
    return entry


def _context_aad(context: dict[str, str]) -> bytes:
    canonical = json.dumps(context, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _WRAP_VERSION + canonical.encode()


def _load_or_create_master_key(path: Path) -> bytes:
    # O_EXCL|O_NOFOLLOW: an existing file or a planted symlink (even a dangling one) is never
    # written through; it is read below, where O_NOFOLLOW refuses the symlink.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        key = _read_private_file(path, "master key", _KEY_BYTES + 1)
        if len(key) != _KEY_BYTES:
            raise LocalKeyStoreError("corrupt", f"master key {path} is not 32 bytes") from None
        return key
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return key


def _read_private_file(path: Path, what: str, limit: int) -> bytes:
    """Read a file only we may read: not through a symlink, owned by us, no group/other bits."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LocalKeyStoreError("symlink", f"{what} {path} is a symlink") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise LocalKeyStoreError("corrupt", f"{what} {path} is not a regular file")
        _check_private(path, info, what, "600")
        return handle.read(limit)


def _check_private(path: Path, info: os.stat_result, what: str, wanted: str) -> None:
    if info.st_uid != os.geteuid():
        raise LocalKeyStoreError("not_owner", f"{what} {path} belongs to another user")
    if info.st_mode & 0o077:
        raise LocalKeyStoreError(
            "insecure_permissions",
            f"{what} {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):o}); run chmod {wanted} on it",
        )


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
