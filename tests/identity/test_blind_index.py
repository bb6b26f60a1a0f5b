"""A blind index finds equal values of one tenant, and tells nothing else."""

from __future__ import annotations

import hashlib

import pytest

from tenantry.platform.blind_index import blind_index
from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.index_keys import index_key
from tenantry.platform.data_keys import KeyVersionNeeded, TenantKeys
from tenantry.services.identity.accounts import EMAIL_INDEX_PURPOSE, email_index

EMAIL = "jane.doe@example.com"


def keys_of(tenant: str, *versions: int) -> TenantKeys:
    held = {v: DataKey(v, hashlib.sha256(f"{tenant} v{v}".encode()).digest()) for v in versions}
    return TenantKeys(held[max(versions)], held)


def test_the_same_email_gives_the_same_index_for_one_tenant() -> None:
    first = blind_index(keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL)
    assert first == blind_index(keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL)
    assert len(bytes.fromhex(first)) == 32
    assert first != blind_index(keys_of("a", 1), EMAIL_INDEX_PURPOSE, "john@example.com")


def test_another_tenant_key_gives_another_index() -> None:
    assert blind_index(keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL) != blind_index(
        keys_of("b", 1), EMAIL_INDEX_PURPOSE, EMAIL
    )


def test_another_purpose_gives_another_key_and_index() -> None:
    key = keys_of("a", 1)(1)
    assert index_key(key, b"one column") != index_key(key, b"another column")
    assert index_key(key, b"one column") != key.material
    assert blind_index(keys_of("a", 1), b"other", EMAIL) != blind_index(
        keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL
    )


def test_the_index_holds_no_plaintext() -> None:
    index = blind_index(keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL)
    for part in (EMAIL, "jane.doe", "example.com", EMAIL.encode().hex()):
        assert part not in index
    assert hashlib.sha256(EMAIL.encode()).hexdigest() != index  # keyed, not a plain hash


def test_the_index_key_is_version_one_whatever_the_current_version() -> None:
    assert blind_index(keys_of("a", 1, 2, 3), EMAIL_INDEX_PURPOSE, EMAIL) == blind_index(
        keys_of("a", 1), EMAIL_INDEX_PURPOSE, EMAIL
    )


def test_without_version_one_held_it_asks_for_it() -> None:
    only_current = TenantKeys(keys_of("a", 2)(2), {2: keys_of("a", 2)(2)})
    with pytest.raises(KeyVersionNeeded) as needed:
        blind_index(only_current, EMAIL_INDEX_PURPOSE, EMAIL)
    assert needed.value.version == 1


def test_email_spellings_share_one_index() -> None:
    keys = keys_of("a", 1)
    assert email_index(keys, "  Jane.Doe@Example.COM ") == email_index(keys, EMAIL)
