"""Column-wise sealing and bulk resealing: the same format as single fields, the same refusals."""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from tenantry.platform.crypto import (
    CiphertextRejected,
    DataKey,
    EncryptionError,
    FieldColumn,
    KeyLookup,
    decrypt_field,
    encrypt_field,
    key_version,
    reseal_field,
    reseal_fields,
)

KEY1 = DataKey(1, bytes(range(32)))
KEY2 = DataKey(2, bytes(range(100, 132)))
KEY3 = DataKey(3, bytes(range(200, 232)))
COLUMN = FieldColumn("t-1", "notes", "body")
PLACE = {"tenant_id": "t-1", "table": "notes", "column": "body"}
SECRET = b"the patient's diagnosis"


def ring(*keys: DataKey) -> KeyLookup:
    by_version = {key.version: key for key in keys}

    def lookup(version: int) -> DataKey:
        return by_version[version]

    return lookup


def same_material_any_version(version: int) -> DataKey:
    """A lookup that would hand KEY1's material to any version a header claims."""
    return DataKey(version, KEY1.material)


def reason_of(call: object) -> str:
    assert callable(call)
    with pytest.raises(CiphertextRejected) as caught:
        call()
    assert SECRET.decode() not in str(caught.value)
    return caught.value.reason


cell_part = st.text(min_size=1, max_size=40)


@given(plaintext=st.binary(max_size=1024), tenant=cell_part, table=cell_part, row=cell_part)
def test_column_values_and_single_fields_open_each_other(
    plaintext: bytes, tenant: str, table: str, row: str
) -> None:
    column = FieldColumn(tenant, table, "c")
    cell = {"tenant_id": tenant, "table": table, "row": row, "column": "c"}
    by_column = column.seal(KEY1, plaintext, row)
    assert decrypt_field(ring(KEY1), by_column, **cell) == plaintext
    by_field = encrypt_field(KEY1, plaintext, **cell)
    assert column.open(ring(KEY1), by_field, row) == plaintext


@given(plaintext=st.binary(max_size=1024), row=cell_part)
def test_resealed_values_open_as_single_fields_and_single_fields_reseal(
    plaintext: bytes, row: str
) -> None:
    sealed = encrypt_field(KEY1, plaintext, row=row, **PLACE)
    resealed = reseal_field(ring(KEY1), KEY2, COLUMN, row, sealed)
    assert key_version(resealed) == 2
    assert len(resealed) == len(sealed)
    assert decrypt_field(ring(KEY2), resealed, row=row, **PLACE) == plaintext
    again = reseal_field(ring(KEY2), KEY3, COLUMN, row, resealed)
    assert decrypt_field(ring(KEY3), again, row=row, **PLACE) == plaintext


def test_resealed_values_follow_the_documented_format() -> None:
    """Open a resealed value by hand from the fields module docstring, to pin the format."""
    resealed = reseal_field(
        ring(KEY1), KEY2, COLUMN, "42", encrypt_field(KEY1, SECRET, row="42", **PLACE)
    )
    cell = b"".join(
        struct.pack(">I", len(part)) + part for part in (b"t-1", b"notes", b"42", b"body")
    )
    assert resealed[:5] == b"\x01" + struct.pack(">I", 2)
    aead = AESGCM(KEY2.material)
    assert aead.decrypt(resealed[5:17], resealed[17:], resealed[:5] + cell) == SECRET
    assert COLUMN.context("42") == cell


def test_a_batch_of_mixed_versions_moves_to_the_new_key_in_order() -> None:
    cells = [
        (f"r{n}", encrypt_field(KEY1 if n % 3 else KEY2, f"v{n}".encode(), row=f"r{n}", **PLACE))
        for n in range(30)
    ]
    asked: list[int] = []

    def counting(version: int) -> DataKey:
        asked.append(version)
        return ring(KEY1, KEY2)(version)

    resealed = reseal_fields(counting, KEY3, COLUMN, cells)
    assert sorted(asked) == [1, 2]  # once per version met, not once per value
    assert [key_version(value) for value in resealed] == [3] * 30
    only_new = ring(KEY3)
    for (row, old), new in zip(cells, resealed, strict=True):
        assert decrypt_field(only_new, new, row=row, **PLACE) == f"v{row[1:]}".encode()
        assert new[5:17] != old[5:17]  # a fresh nonce for every value
    assert reseal_fields(ring(KEY1), KEY3, COLUMN, []) == []


def test_resealing_twice_gives_different_ciphertexts() -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    first, second = (reseal_field(ring(KEY1), KEY2, COLUMN, "a", sealed) for _ in range(2))
    assert first[5:17] != second[5:17]


@pytest.mark.parametrize(
    ("column", "row"),
    [
        (FieldColumn("t-2", "notes", "body"), "a"),
        (FieldColumn("t-1", "drafts", "body"), "a"),
        (FieldColumn("t-1", "notes", "title"), "a"),
        (FieldColumn("T-1", "notes", "body"), "a"),
        (COLUMN, "b"),
    ],
)
def test_a_value_moved_to_another_cell_is_not_resealed(column: FieldColumn, row: str) -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    assert reason_of(lambda: reseal_field(ring(KEY1), KEY2, column, row, sealed)) == (
        "authentication_failed"
    )
    assert reason_of(lambda: column.open(ring(KEY1), sealed, row)) == "authentication_failed"


def test_a_value_moved_to_another_row_of_the_batch_stops_the_batch() -> None:
    a, b = (encrypt_field(KEY1, SECRET, row=row, **PLACE) for row in "ab")
    swapped = [("a", a), ("b", a), ("c", b)]
    assert reason_of(lambda: reseal_fields(ring(KEY1), KEY2, COLUMN, swapped)) == (
        "authentication_failed"
    )


def test_every_tampered_byte_is_refused_for_the_same_reason_as_decrypt_field() -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    good = ("z", encrypt_field(KEY1, SECRET, row="z", **PLACE))
    for index in range(len(sealed)):
        for flip in (0x02, 0x80):
            tampered = bytearray(sealed)
            tampered[index] ^= flip
            value = bytes(tampered)
            single = reason_of(
                lambda value=value: decrypt_field(
                    same_material_any_version, value, row="a", **PLACE
                )
            )
            # After a good value, so the version-1 cipher is already known to the batch.
            bulk = reason_of(
                lambda value=value: reseal_fields(
                    same_material_any_version, KEY2, COLUMN, [good, ("a", value)]
                )
            )
            expected = "unknown_format" if index == 0 else "authentication_failed"
            assert single == bulk == expected, index


def test_truncated_and_extended_values_are_refused_in_a_batch_too() -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    good = ("z", encrypt_field(KEY1, SECRET, row="z", **PLACE))
    for length in range(len(sealed)):
        expected = "truncated" if length < 33 else "authentication_failed"
        short = sealed[:length]
        got = reason_of(
            lambda short=short: reseal_fields(ring(KEY1), KEY2, COLUMN, [good, ("a", short)])
        )
        assert got == expected, length
    extended = [good, ("a", sealed + b"\x00")]
    assert reason_of(lambda: reseal_fields(ring(KEY1), KEY2, COLUMN, extended)) == (
        "authentication_failed"
    )


def test_wrong_key_of_the_same_version_is_refused() -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    impostor = DataKey(1, bytes(32))
    assert reason_of(lambda: reseal_field(ring(impostor), KEY2, COLUMN, "a", sealed)) == (
        "authentication_failed"
    )


def test_a_missing_or_mismatched_old_key_is_key_unavailable() -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    with pytest.raises(CiphertextRejected) as caught:
        reseal_field(ring(KEY2), KEY3, COLUMN, "a", sealed)
    assert caught.value.reason == "key_unavailable"
    assert isinstance(caught.value.__cause__, KeyError)
    assert reason_of(lambda: reseal_field(lambda _v: KEY2, KEY3, COLUMN, "a", sealed)) == (
        "key_unavailable"
    )
    tampered = bytearray(sealed)
    tampered[4] ^= 0x04
    assert reason_of(lambda: reseal_field(ring(KEY1), KEY3, COLUMN, "a", bytes(tampered))) == (
        "key_unavailable"
    )


@pytest.mark.parametrize("row", ["", "\ud800"])
def test_empty_or_unencodable_rows_are_refused(row: str) -> None:
    sealed = encrypt_field(KEY1, SECRET, row="a", **PLACE)
    for call in (
        lambda: reseal_field(ring(KEY1), KEY2, COLUMN, row, sealed),
        lambda: COLUMN.seal(KEY1, SECRET, row),
        lambda: COLUMN.open(ring(KEY1), sealed, row),
    ):
        with pytest.raises(EncryptionError) as caught:
            call()
        assert caught.value.reason == "invalid_context"


@pytest.mark.parametrize(
    "parts",
    [("", "notes", "body"), ("t-1", "", "body"), ("t-1", "notes", ""), ("\ud800", "n", "b")],
)
def test_a_column_with_an_empty_or_unencodable_part_is_refused(
    parts: tuple[str, str, str],
) -> None:
    with pytest.raises(EncryptionError) as caught:
        FieldColumn(*parts)
    assert caught.value.reason == "invalid_context"
