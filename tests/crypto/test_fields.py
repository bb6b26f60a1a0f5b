"""Field encryption: round trips, the stored layout, rotation, and every move or tamper refused."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from tenantry.platform.crypto import (
    FORMAT_VERSION,
    CiphertextRejected,
    DataKey,
    EncryptionError,
    KeyLookup,
    decrypt_field,
    encrypt_field,
    key_version,
)

KEY1 = DataKey(1, bytes(range(32)))
KEY2 = DataKey(2, bytes(range(100, 132)))
CELL = {"tenant_id": "t-1", "table": "notes", "row": "42", "column": "body"}
SECRET = b"the patient's diagnosis"


def ring(*keys: DataKey) -> KeyLookup:
    by_version = {key.version: key for key in keys}

    def lookup(version: int) -> DataKey:
        return by_version[version]

    return lookup


def same_material_any_version(version: int) -> DataKey:
    """A lookup that would hand KEY1's material to any version a header claims."""
    return DataKey(version, KEY1.material)


def rejected(keys: KeyLookup, ciphertext: bytes, **cell: str) -> CiphertextRejected:
    with pytest.raises(CiphertextRejected) as caught:
        decrypt_field(keys, ciphertext, **{**CELL, **cell})
    message = str(caught.value)
    assert SECRET.decode() not in message
    assert KEY1.material.hex() not in message
    return caught.value


cell_part = st.text(min_size=1, max_size=40)


@given(plaintext=st.binary(max_size=2048), tenant=cell_part, table=cell_part, row=cell_part)
def test_round_trip_for_any_plaintext_and_cell(
    plaintext: bytes, tenant: str, table: str, row: str
) -> None:
    cell = {"tenant_id": tenant, "table": table, "row": row, "column": "c"}
    sealed = encrypt_field(KEY1, plaintext, **cell)
    assert decrypt_field(ring(KEY1), sealed, **cell) == plaintext
    assert len(sealed) == 1 + 4 + 12 + len(plaintext) + 16


def test_layout_is_format_byte_key_version_nonce_then_sealed_bytes() -> None:
    sealed = encrypt_field(KEY2, SECRET, **CELL)
    assert sealed[0] == FORMAT_VERSION == 0x01
    assert struct.unpack(">I", sealed[1:5]) == (2,)
    assert SECRET not in sealed
    assert key_version(sealed) == 2


def test_values_follow_the_documented_format() -> None:
    """Open a value by hand from the module docstring, to pin the stored format."""
    sealed = encrypt_field(KEY2, SECRET, **CELL)
    cell = b"".join(
        struct.pack(">I", len(part)) + part for part in (b"t-1", b"notes", b"42", b"body")
    )
    assert AESGCM(KEY2.material).decrypt(sealed[5:17], sealed[17:], sealed[:5] + cell) == SECRET


def test_each_encryption_uses_a_fresh_nonce() -> None:
    first, second = (encrypt_field(KEY1, SECRET, **CELL) for _ in range(2))
    assert first[5:17] != second[5:17]
    assert first != second


def test_empty_plaintext_round_trips() -> None:
    sealed = encrypt_field(KEY1, b"", **CELL)
    assert decrypt_field(ring(KEY1), sealed, **CELL) == b""


@pytest.mark.parametrize(
    "moved",
    [
        {"tenant_id": "t-2"},
        {"table": "drafts"},
        {"row": "43"},
        {"column": "title"},
        {"tenant_id": "T-1"},
    ],
)
def test_value_copied_to_another_cell_is_refused(moved: dict[str, str]) -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    assert rejected(ring(KEY1), sealed, **moved).reason == "authentication_failed"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ({"table": "ab", "row": "c"}, {"table": "a", "row": "bc"}),
        ({"tenant_id": "t", "table": "1notes"}, {"tenant_id": "t1", "table": "notes"}),
        ({"row": "4", "column": "2body"}, {"row": "42", "column": "body"}),
    ],
)
def test_cell_parts_cannot_be_shifted_between_fields(
    written: dict[str, str], read: dict[str, str]
) -> None:
    sealed = encrypt_field(KEY1, SECRET, **{**CELL, **written})
    assert rejected(ring(KEY1), sealed, **read).reason == "authentication_failed"


def test_every_tampered_byte_is_refused() -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    for index in range(len(sealed)):
        for flip in (0x02, 0x80):
            tampered = bytearray(sealed)
            tampered[index] ^= flip
            # The lookup hands out KEY1's material for any version, so a changed key version
            # is caught by authentication, not merely by a missing key.
            reason = rejected(same_material_any_version, bytes(tampered)).reason
            expected = "unknown_format" if index == 0 else "authentication_failed"
            assert reason == expected, index


def test_changed_key_version_names_a_missing_key() -> None:
    tampered = bytearray(encrypt_field(KEY1, SECRET, **CELL))
    tampered[4] ^= 0x04
    assert rejected(ring(KEY1), bytes(tampered)).reason == "key_unavailable"


def test_truncated_and_extended_values_are_refused() -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    for length in range(len(sealed)):
        expected = "truncated" if length < 33 else "authentication_failed"
        assert rejected(ring(KEY1), sealed[:length]).reason == expected, length
    assert rejected(ring(KEY1), sealed + b"\x00").reason == "authentication_failed"


def test_unknown_format_version_is_refused() -> None:
    sealed = bytearray(encrypt_field(KEY1, SECRET, **CELL))
    sealed[0] = 0x02
    assert rejected(ring(KEY1), bytes(sealed)).reason == "unknown_format"
    with pytest.raises(CiphertextRejected) as caught:
        key_version(bytes(sealed))
    assert caught.value.reason == "unknown_format"


@pytest.mark.parametrize(
    ("data", "reason"), [(b"", "truncated"), (b"\x01" + b"\x00" * 31, "truncated")]
)
def test_key_version_refuses_what_cannot_be_a_field(data: bytes, reason: str) -> None:
    with pytest.raises(CiphertextRejected) as caught:
        key_version(data)
    assert caught.value.reason == reason


def test_wrong_key_of_the_same_version_is_refused() -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    impostor = DataKey(1, bytes(32))
    assert rejected(ring(impostor), sealed).reason == "authentication_failed"


def test_failing_key_lookup_is_key_unavailable() -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    error = rejected(ring(KEY2), sealed)
    assert error.reason == "key_unavailable"
    assert isinstance(error.__cause__, KeyError)


def test_key_lookup_returning_another_version_is_key_unavailable() -> None:
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    assert rejected(lambda version: KEY2, sealed).reason == "key_unavailable"


def test_rotation_reads_old_versions_while_writing_new_ones() -> None:
    old_rows = {
        row: encrypt_field(KEY1, f"v{row}".encode(), **{**CELL, "row": row}) for row in "ab"
    }
    during_rotation = ring(KEY1, KEY2)
    new_row = encrypt_field(KEY2, b"vc", **{**CELL, "row": "c"})
    assert key_version(new_row) == 2

    stale = [row for row, sealed in old_rows.items() if key_version(sealed) < KEY2.version]
    assert stale == ["a", "b"]
    for row, sealed in old_rows.items():
        assert decrypt_field(during_rotation, sealed, **{**CELL, "row": row}) == f"v{row}".encode()

    rewritten = encrypt_field(
        KEY2,
        decrypt_field(during_rotation, old_rows["a"], **{**CELL, "row": "a"}),
        **{**CELL, "row": "a"},
    )
    after_retirement = ring(KEY2)
    assert decrypt_field(after_retirement, rewritten, **{**CELL, "row": "a"}) == b"va"
    assert decrypt_field(after_retirement, new_row, **{**CELL, "row": "c"}) == b"vc"
    assert rejected(after_retirement, old_rows["b"], row="b").reason == "key_unavailable"


@pytest.mark.parametrize(
    "material", [b"", bytes(16), bytes(31), bytes(33), bytearray(32), "k" * 32]
)
def test_data_key_refuses_material_that_is_not_32_bytes(material: Any) -> None:
    with pytest.raises(EncryptionError) as caught:
        DataKey(1, material)
    assert caught.value.reason == "invalid_key"


@pytest.mark.parametrize("version", [0, -1, 2**32, True, "1", 1.0])
def test_data_key_refuses_versions_outside_uint32(version: Any) -> None:
    with pytest.raises(EncryptionError) as caught:
        DataKey(version, bytes(32))
    assert caught.value.reason == "invalid_key"


def test_data_key_accepts_the_largest_version() -> None:
    key = DataKey(2**32 - 1, bytes(32))
    assert key_version(encrypt_field(key, SECRET, **CELL)) == 2**32 - 1


def test_data_key_repr_hides_the_material() -> None:
    key = DataKey(7, b"\xab" * 32)
    assert repr(key) == str(key) == f"{key}" == "DataKey(version=7)"


@pytest.mark.parametrize(
    "bad", [{"tenant_id": ""}, {"table": ""}, {"row": ""}, {"column": ""}, {"row": "\ud800"}]
)
def test_empty_or_unencodable_cell_parts_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(EncryptionError) as caught:
        encrypt_field(KEY1, SECRET, **{**CELL, **bad})
    assert caught.value.reason == "invalid_context"
    sealed = encrypt_field(KEY1, SECRET, **CELL)
    with pytest.raises(EncryptionError) as caught:
        decrypt_field(ring(KEY1), sealed, **{**CELL, **bad})
    assert caught.value.reason == "invalid_context"
