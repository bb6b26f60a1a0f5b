"""The local root-key provider: wrapping, context binding, file safety and crypto-shredding."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenantry.services.kms.providers import (
    InvalidKeyRequest,
    KeyState,
    KeyUnavailable,
    LocalKeyProvider,
    LocalKeyStoreError,
    UnwrapFailed,
)
from tenantry.services.kms.providers.local import MASTER_KEY_FILE, STORE_FILE

CONTEXT = {"tenant": "acme", "purpose": "data-key", "version": "3"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _store(directory: Path) -> dict[str, dict[str, str]]:
    keys: dict[str, dict[str, str]] = json.loads((directory / STORE_FILE).read_text())["keys"]
    return keys


def _root_key_from_disk(directory: Path, name: str) -> bytes:
    """Open a root key the way only a holder of master.key can, to look for it on disk."""
    master = AESGCM((directory / MASTER_KEY_FILE).read_bytes())
    sealed = base64.b64decode(_store(directory)[name]["material"])
    return master.decrypt(sealed[:12], sealed[12:], b"tenantry/local-root-key/v1:" + name.encode())


def test_round_trip_and_fresh_nonce_per_wrap(local: LocalKeyProvider) -> None:
    ref = local.create_key("root-eu-v1")
    data_key = secrets.token_bytes(32)
    first, second = local.wrap(ref, data_key, CONTEXT), local.wrap(ref, data_key, CONTEXT)
    assert ref == "local:root-eu-v1"
    assert first != second
    assert local.unwrap(ref, first, CONTEXT) == data_key
    assert local.unwrap(ref, second, dict(reversed(CONTEXT.items()))) == data_key


@pytest.mark.parametrize(
    "context",
    [
        {**CONTEXT, "tenant": "globex"},
        {**CONTEXT, "version": "4"},
        {**CONTEXT, "extra": "x"},
        {"tenant": "acme", "purpose": "data-key"},
    ],
)
def test_unwrap_with_another_context_is_refused(
    local: LocalKeyProvider, context: dict[str, str]
) -> None:
    ref = local.create_key("root")
    wrapped = local.wrap(ref, secrets.token_bytes(32), CONTEXT)
    with pytest.raises(UnwrapFailed) as refused:
        local.unwrap(ref, wrapped, context)
    assert refused.value.reason == "authentication_failed"


def test_tampered_or_foreign_wrapped_keys_are_refused(local: LocalKeyProvider) -> None:
    ref, other = local.create_key("root"), local.create_key("other")
    data_key = secrets.token_bytes(32)
    wrapped = local.wrap(ref, data_key, CONTEXT)
    flipped = bytearray(wrapped)
    flipped[-1] ^= 1
    attempts = [
        (ref, bytes(flipped)),
        (ref, wrapped[:-1]),
        (ref, b"\x02" + wrapped[1:]),
        (ref, b""),
        (other, wrapped),
    ]
    for key_ref, candidate in attempts:
        with pytest.raises(UnwrapFailed) as refused:
            local.unwrap(key_ref, candidate, CONTEXT)
        assert data_key.hex() not in str(refused.value)


def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        provider = LocalKeyProvider(tmp_path / "keys")
        provider.create_key("root")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(tmp_path / "keys" / MASTER_KEY_FILE) == 0o600
    assert _mode(tmp_path / "keys" / STORE_FILE) == 0o600
    assert len((tmp_path / "keys" / MASTER_KEY_FILE).read_bytes()) == 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_master_key_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    LocalKeyProvider(tmp_path / "keys")
    (tmp_path / "keys" / MASTER_KEY_FILE).chmod(mode)
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(tmp_path / "keys")
    assert refused.value.reason == "insecure_permissions"
    assert "chmod 600" in str(refused.value)


def test_key_directory_open_to_group_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o750)
    (tmp_path / "keys").chmod(0o750)
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(tmp_path / "keys")
    assert refused.value.reason == "insecure_permissions"
    assert not (tmp_path / "keys" / MASTER_KEY_FILE).exists()


def test_symlinked_master_key_is_refused(tmp_path: Path) -> None:
    planted = tmp_path / "attacker.key"
    planted.write_bytes(b"A" * 32)
    planted.chmod(0o600)
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    (directory / MASTER_KEY_FILE).symlink_to(planted)
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(directory)
    assert refused.value.reason == "symlink"


def test_dangling_master_key_symlink_is_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "stolen.key"
    target.parent.mkdir()
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    (directory / MASTER_KEY_FILE).symlink_to(target)
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(directory)
    assert refused.value.reason == "symlink"
    assert not target.exists()


def test_symlinked_key_store_is_refused(local: LocalKeyProvider, tmp_path: Path) -> None:
    ref = local.create_key("root")
    store = tmp_path / "keys" / STORE_FILE
    moved = tmp_path / "moved.json"
    store.rename(moved)
    store.symlink_to(moved)
    with pytest.raises(LocalKeyStoreError) as refused:
        local.wrap(ref, secrets.token_bytes(32), CONTEXT)
    assert refused.value.reason == "symlink"


def test_no_plaintext_key_material_on_disk(local: LocalKeyProvider, tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ref = local.create_key("root")
    data_key = secrets.token_bytes(32)
    wrapped = local.wrap(ref, data_key, CONTEXT)
    local.disable(ref)
    local.enable(ref)
    root = _root_key_from_disk(directory, "root")
    # The key opened from disk really is the root key: it unwraps what the provider wrapped.
    aad = b"\x01" + json.dumps(CONTEXT, sort_keys=True, separators=(",", ":")).encode()
    assert AESGCM(root).decrypt(wrapped[1:13], wrapped[13:], aad) == data_key

    secrets_on_disk = [
        form
        for value in (root, data_key)
        for form in (value, value.hex().encode(), base64.b64encode(value))
    ]
    files = [path for path in directory.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {MASTER_KEY_FILE, STORE_FILE}
    for path in files:
        content = path.read_bytes()
        for form in secrets_on_disk:
            assert form not in content, path.name


def test_destroy_shreds_the_key_for_good(local: LocalKeyProvider, tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ref = local.create_key("root")
    wrapped = local.wrap(ref, secrets.token_bytes(32), CONTEXT)
    material = _store(directory)["root"]["material"]

    local.destroy(ref)

    assert material not in (directory / STORE_FILE).read_text()
    assert _store(directory)["root"] == {"state": "destroyed"}
    for provider in (local, LocalKeyProvider(directory)):
        assert provider.describe(ref) is KeyState.MISSING
        with pytest.raises(KeyUnavailable) as refused:
            provider.unwrap(ref, wrapped, CONTEXT)
        assert refused.value.reason == "key_not_found"
        with pytest.raises(KeyUnavailable):
            provider.wrap(ref, secrets.token_bytes(32), CONTEXT)
        with pytest.raises(KeyUnavailable):
            provider.enable(ref)
    with pytest.raises(InvalidKeyRequest) as reused:
        local.create_key("root")
    assert reused.value.reason == "key_exists"


def test_keys_persist_across_instances(local: LocalKeyProvider, tmp_path: Path) -> None:
    ref = local.create_key("root")
    data_key = secrets.token_bytes(32)
    wrapped = local.wrap(ref, data_key, CONTEXT)
    again = LocalKeyProvider(tmp_path / "keys")
    assert again.unwrap(ref, wrapped, CONTEXT) == data_key
    assert again.describe(ref) is KeyState.ENABLED


def test_disable_and_enable(local: LocalKeyProvider, tmp_path: Path) -> None:
    ref = local.create_key("root")
    data_key = secrets.token_bytes(32)
    wrapped = local.wrap(ref, data_key, CONTEXT)

    local.disable(ref)
    other_instance = LocalKeyProvider(tmp_path / "keys")
    for provider in (local, other_instance):
        assert provider.describe(ref) is KeyState.DISABLED
        with pytest.raises(KeyUnavailable) as refused:
            provider.unwrap(ref, wrapped, CONTEXT)
        assert refused.value.reason == "key_disabled"
        with pytest.raises(KeyUnavailable) as refused:
            provider.wrap(ref, data_key, CONTEXT)
        assert refused.value.reason == "key_disabled"

    other_instance.enable(ref)
    assert local.describe(ref) is KeyState.ENABLED
    assert local.unwrap(ref, wrapped, CONTEXT) == data_key


def test_unknown_keys(local: LocalKeyProvider) -> None:
    assert local.describe("local:never-made") is KeyState.MISSING
    with pytest.raises(KeyUnavailable) as refused:
        local.wrap("local:never-made", secrets.token_bytes(32), CONTEXT)
    assert refused.value.reason == "key_not_found"
    with pytest.raises(KeyUnavailable):
        local.disable("local:never-made")


def test_root_key_material_is_bound_to_its_name(local: LocalKeyProvider, tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    victim, attacker = local.create_key("victim"), local.create_key("attacker")
    document = json.loads((directory / STORE_FILE).read_text())
    document["keys"]["victim"]["material"] = document["keys"]["attacker"]["material"]
    (directory / STORE_FILE).write_text(json.dumps(document))
    assert local.wrap(attacker, secrets.token_bytes(32), CONTEXT)
    with pytest.raises(LocalKeyStoreError) as refused:
        local.wrap(victim, secrets.token_bytes(32), CONTEXT)
    assert refused.value.reason == "corrupt"


def test_another_master_key_cannot_open_root_keys(local: LocalKeyProvider, tmp_path: Path) -> None:
    ref = local.create_key("root")
    master = tmp_path / "keys" / MASTER_KEY_FILE
    master.write_bytes(secrets.token_bytes(32))
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(tmp_path / "keys").wrap(ref, secrets.token_bytes(32), CONTEXT)
    assert refused.value.reason == "corrupt"


@pytest.mark.parametrize("content", [b"", b"short", bytes(33)])
def test_master_key_of_wrong_length_is_refused(tmp_path: Path, content: bytes) -> None:
    LocalKeyProvider(tmp_path / "keys")
    (tmp_path / "keys" / MASTER_KEY_FILE).write_bytes(content)
    with pytest.raises(LocalKeyStoreError) as refused:
        LocalKeyProvider(tmp_path / "keys")
    assert refused.value.reason == "corrupt"


def test_damaged_store_is_reported(local: LocalKeyProvider, tmp_path: Path) -> None:
    ref = local.create_key("root")
    (tmp_path / "keys" / STORE_FILE).write_text('{"format": 1, "keys": {"root": 5}}')
    with pytest.raises(LocalKeyStoreError) as refused:
        local.describe(ref)
    assert refused.value.reason == "corrupt"


@pytest.mark.parametrize("name", ["", "../up", "a/b", "-x", "x" * 129, "caf\u00e9"])
def test_bad_key_names_are_refused(local: LocalKeyProvider, name: str) -> None:
    with pytest.raises(InvalidKeyRequest) as refused:
        local.create_key(name)
    assert refused.value.reason == "invalid_key_ref"
    with pytest.raises(InvalidKeyRequest):
        local.describe("local:" + name)


@pytest.mark.parametrize("key_ref", ["root", "arn:aws:kms:eu-west-1:1:key/x", "local:", None])
def test_refs_of_other_shapes_are_refused(local: LocalKeyProvider, key_ref: str) -> None:
    local.create_key("root")
    with pytest.raises(InvalidKeyRequest) as refused:
        local.wrap(key_ref, secrets.token_bytes(32), CONTEXT)
    assert refused.value.reason == "invalid_key_ref"


def test_bad_data_keys_and_contexts_are_refused(local: LocalKeyProvider) -> None:
    ref = local.create_key("root")
    for data_key in (b"", secrets.token_bytes(16), secrets.token_bytes(64)):
        with pytest.raises(InvalidKeyRequest) as refused:
            local.wrap(ref, data_key, CONTEXT)
        assert refused.value.reason == "invalid_data_key"
    for context in ({}, {"tenant": 3}, {"": "x"}):
        with pytest.raises(InvalidKeyRequest) as refused:
            local.wrap(ref, secrets.token_bytes(32), context)  # type: ignore[arg-type]
        assert refused.value.reason == "invalid_context"


def test_concurrent_writers_lose_no_keys(tmp_path: Path) -> None:
    providers = [LocalKeyProvider(tmp_path / "keys") for _ in range(4)]

    def create(index: int) -> None:
        for number in range(10):
            providers[index].create_key(f"k{index}-{number}")

    threads = [threading.Thread(target=create, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(_store(tmp_path / "keys")) == 40
