"""Stream encryption: round trips across frames, incremental work, every stream attack refused."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from functools import cache
from itertools import pairwise
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from tenantry.platform.crypto import (
    DEFAULT_FRAME_SIZE,
    HEADER_SIZE,
    MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    STREAM_FORMAT_VERSION,
    CiphertextRejected,
    DataKey,
    EncryptionError,
    KeyLookup,
    decrypt_stream,
    encrypt_field,
    encrypt_stream,
    encrypted_size,
    stream_key_version,
)

MIB = 1024 * 1024
F = MIN_FRAME_SIZE
SEALED = F + 16
KEY1 = DataKey(1, bytes(range(32)))
KEY2 = DataKey(2, bytes(range(100, 132)))
PLACE = {"tenant_id": "t-1", "collection": "media", "object_id": "f-9"}


def ring(*keys: DataKey) -> KeyLookup:
    by_version = {key.version: key for key in keys}

    def lookup(version: int) -> DataKey:
        return by_version[version]

    return lookup


def plaintext(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def seal(data: bytes, key: DataKey = KEY1, frame_size: int = F, **place: str) -> bytes:
    chunks = pieces(data, 65_537)
    return b"".join(encrypt_stream(key, chunks, frame_size=frame_size, **{**PLACE, **place}))


def unseal(blob: bytes, keys: KeyLookup | None = None, chunk: int = 99_991, **place: str) -> bytes:
    return b"".join(decrypt_stream(keys or ring(KEY1), pieces(blob, chunk), **{**PLACE, **place}))


def refused(blob: bytes, keys: KeyLookup | None = None, **place: str) -> str:
    with pytest.raises(CiphertextRejected) as caught:
        unseal(blob, keys, **place)
    return caught.value.reason


@cache
def three_frames() -> tuple[bytes, bytes, list[bytes]]:
    """A stream of two full frames and a short last one, and its header and frames."""
    data = plaintext(2 * F + 1000, seed=3)
    blob = seal(data)
    body = blob[HEADER_SIZE:]
    return data, blob[:HEADER_SIZE], [body[i : i + SEALED] for i in range(0, len(body), SEALED)]


@pytest.mark.parametrize("size", [0, 1, F - 1, F, F + 1, 2 * F, 3 * F + 12_345])
@pytest.mark.parametrize("in_chunk", [7_919, 1_000_003, 8 * MIB])
def test_round_trip_across_frames_with_odd_chunk_sizes(size: int, in_chunk: int) -> None:
    data = plaintext(size, seed=size)
    blob = b"".join(encrypt_stream(KEY1, pieces(data, in_chunk), **PLACE))
    assert len(blob) == encrypted_size(size)
    for out_chunk in (4_093, 1_048_593, len(blob) or 1):
        assert unseal(blob, chunk=out_chunk) == data


@st.composite
def chunked(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    size = draw(st.integers(0, 3 * F + 100))
    data = plaintext(size, seed=draw(st.integers(0, 2**16)))
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=12)))
    bounds = [0, *cuts, size]
    return data, [data[a:b] for a, b in pairwise(bounds)]


@settings(max_examples=25, deadline=None)
@given(case=chunked(), frame_size=st.sampled_from([F, F + 7, 3 * MIB // 2]))
def test_any_chunking_round_trips(case: tuple[bytes, list[bytes]], frame_size: int) -> None:
    data, chunks = case
    blob = b"".join(encrypt_stream(KEY1, chunks, frame_size=frame_size, **PLACE))
    assert len(blob) == encrypted_size(len(data), frame_size)
    # Decrypt with the same odd boundaries, empty chunks included.
    cuts = [0]
    for chunk in chunks:
        cuts.append(cuts[-1] + len(chunk))
    cuts.append(len(blob))
    feed = [blob[a:b] for a, b in pairwise(cuts)]
    assert b"".join(decrypt_stream(ring(KEY1), feed, **PLACE)) == data


def test_largest_frame_size_round_trips() -> None:
    data = plaintext(MAX_FRAME_SIZE + 5)
    blob = seal(data, frame_size=MAX_FRAME_SIZE)
    assert len(blob) == HEADER_SIZE + len(data) + 2 * 16
    assert unseal(blob) == data


@pytest.mark.parametrize("chunks", [[], [b""], [b"", b""]])
def test_empty_plaintext_is_one_empty_last_frame(chunks: list[bytes]) -> None:
    blob = b"".join(encrypt_stream(KEY1, chunks, **PLACE))
    assert len(blob) == HEADER_SIZE + 16 == encrypted_size(0)
    assert unseal(blob) == b""


def test_header_layout_and_key_version() -> None:
    blob = seal(b"hello", key=KEY2, frame_size=3 * MIB)
    assert blob[0] == STREAM_FORMAT_VERSION == 0x01
    assert struct.unpack(">II", blob[1:9]) == (2, 3 * MIB)
    assert stream_key_version(blob) == stream_key_version(blob[:HEADER_SIZE]) == 2
    assert b"hello" not in blob


def test_frames_follow_the_documented_format() -> None:
    """Open a stream by hand from the module docstring, to pin the stored format."""
    data, header, frames = three_frames()
    salt, prefix = header[9:41], header[41:48]
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"tenantry stream v1")
    aead = AESGCM(hkdf.derive(KEY1.material))
    context = b"".join(struct.pack(">I", len(part)) + part for part in (b"t-1", b"media", b"f-9"))
    opened = [
        aead.decrypt(prefix + struct.pack(">IB", i, i == 2), frame, header + context)
        for i, frame in enumerate(frames)
    ]
    assert b"".join(opened) == data
    assert [len(frame) for frame in frames] == [SEALED, SEALED, 1000 + 16]


def test_each_stream_gets_a_fresh_salt_and_nonce_prefix() -> None:
    first, second = seal(b"same"), seal(b"same")
    assert first[9:HEADER_SIZE] != second[9:HEADER_SIZE]
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"", "truncated"),
        (b"\x01\x00\x00\x00\x01", "truncated"),
        (b"\x02" + bytes(HEADER_SIZE - 1), "unknown_format"),
        (struct.pack(">BII", 1, 1, 16) + bytes(39), "unknown_format"),
        (struct.pack(">BII", 1, 1, MAX_FRAME_SIZE + 1) + bytes(39), "unknown_format"),
    ],
)
def test_stream_key_version_refuses_bad_headers(header: bytes, reason: str) -> None:
    with pytest.raises(CiphertextRejected) as caught:
        stream_key_version(header)
    assert caught.value.reason == reason


def test_reordered_frames_are_refused() -> None:
    _, header, frames = three_frames()
    assert refused(header + frames[1] + frames[0] + frames[2]) == "authentication_failed"


def test_dropped_middle_frame_is_refused() -> None:
    _, header, frames = three_frames()
    assert refused(header + frames[0] + frames[2]) == "authentication_failed"


def test_duplicated_frame_is_refused() -> None:
    _, header, frames = three_frames()
    assert refused(header + frames[0] + frames[0] + frames[1] + frames[2]) == (
        "authentication_failed"
    )


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_truncation_at_a_frame_boundary_is_refused(kept: int) -> None:
    _, header, frames = three_frames()
    assert refused(header + b"".join(frames[:kept])) == "truncated"


def test_truncation_inside_the_last_frame_is_refused() -> None:
    _, header, frames = three_frames()
    blob = header + b"".join(frames)
    assert refused(blob[:-1]) == "authentication_failed"
    assert refused(blob[: len(blob) - len(frames[2]) + 15]) == "truncated"


@pytest.mark.parametrize("length", [0, 1, HEADER_SIZE - 1])
def test_truncation_inside_the_header_is_refused(length: int) -> None:
    _, header, _ = three_frames()
    assert refused(header[:length]) == "truncated"


def test_frames_before_the_damage_are_yielded_then_the_stream_is_refused() -> None:
    data, header, frames = three_frames()
    received: list[bytes] = []
    with pytest.raises(CiphertextRejected) as caught:
        for piece in decrypt_stream(ring(KEY1), [header, *frames[:2]], **PLACE):
            received.append(piece)
    assert caught.value.reason == "truncated"
    assert received == [data[:F]]


@pytest.mark.parametrize("extra", [b"\x00", bytes(16), bytes(SEALED)])
def test_data_appended_after_a_short_last_frame_is_refused(extra: bytes) -> None:
    _, header, frames = three_frames()
    assert refused(header + b"".join(frames) + extra) == "authentication_failed"


@pytest.mark.parametrize("extra", [b"\x00", bytes(16), bytes(SEALED + 3)])
def test_data_appended_after_a_full_last_frame_is_trailing_data(extra: bytes) -> None:
    blob = seal(plaintext(2 * F))
    assert refused(blob + extra) == "trailing_data"


def test_a_whole_stream_appended_to_another_is_refused() -> None:
    blob = seal(plaintext(2 * F))
    assert refused(blob + seal(b"more")) == "trailing_data"


def test_swapped_header_is_refused() -> None:
    _, _, frames = three_frames()
    other = seal(plaintext(2 * F + 1000, seed=3))
    assert refused(other[:HEADER_SIZE] + b"".join(frames)) == "authentication_failed"


def test_every_changed_header_byte_is_refused_before_any_plaintext() -> None:
    _, header, frames = three_frames()
    body = b"".join(frames)

    def any_version(version: int) -> DataKey:
        return DataKey(version, KEY1.material)

    for index in range(HEADER_SIZE):
        tampered = bytearray(header)
        tampered[index] ^= 0x02
        received: list[bytes] = []
        with pytest.raises(CiphertextRejected) as caught:
            for piece in decrypt_stream(
                any_version, pieces(bytes(tampered) + body, 65_536), **PLACE
            ):
                received.append(piece)
        # Byte 0 is the format; bytes 5..8 the frame size (0x00100000 ^ 0x02000000 is too large).
        expected = "unknown_format" if index in (0, 5) else "authentication_failed"
        assert caught.value.reason == expected, index
        assert received == [], index


def test_every_frame_detects_changed_bytes() -> None:
    _, header, frames = three_frames()
    for number, frame in enumerate(frames):
        for index in (0, len(frame) // 2, len(frame) - 17, len(frame) - 1):
            tampered = [bytearray(f) for f in frames]
            tampered[number][index] ^= 0x40
            blob = header + b"".join(bytes(f) for f in tampered)
            assert refused(blob) == "authentication_failed", (number, index)


@pytest.mark.parametrize(
    "moved",
    [
        {"tenant_id": "t-2"},
        {"collection": "avatars"},
        {"object_id": "f-10"},
        {"collection": "mediaf", "object_id": "-9"},
    ],
)
def test_stream_moved_to_another_place_is_refused(moved: dict[str, str]) -> None:
    _, header, frames = three_frames()
    assert refused(header + b"".join(frames), **moved) == "authentication_failed"


def test_wrong_key_of_the_same_version_is_refused() -> None:
    blob = seal(b"secret media")
    assert refused(blob, ring(DataKey(1, bytes(32)))) == "authentication_failed"


def test_missing_key_is_key_unavailable() -> None:
    blob = seal(b"secret media")
    with pytest.raises(CiphertextRejected) as caught:
        unseal(blob, ring(KEY2))
    assert caught.value.reason == "key_unavailable"
    assert isinstance(caught.value.__cause__, KeyError)
    assert refused(blob, lambda version: KEY2) == "key_unavailable"


def test_rotation_reads_streams_under_the_old_key() -> None:
    old = seal(b"old blob", key=KEY1)
    new = seal(b"new blob", key=KEY2)
    both = ring(KEY1, KEY2)
    assert [stream_key_version(blob) for blob in (old, new)] == [1, 2]
    assert unseal(old, both) == b"old blob"
    assert unseal(new, both) == b"new blob"
    assert refused(old, ring(KEY2)) == "key_unavailable"


def test_a_field_ciphertext_is_not_a_stream() -> None:
    field = encrypt_field(KEY1, b"x" * 64, tenant_id="t", table="a", row="r", column="c")
    with pytest.raises(CiphertextRejected):
        unseal(field)


class Metered:
    """An input that counts how much of it has been read."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data, self.chunk, self.read = data, chunk, 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in pieces(self.data, self.chunk):
            self.read += len(piece)
            yield piece


def consumption_at_each_output(outputs: Iterable[bytes], source: Metered) -> list[int]:
    return [source.read for _ in outputs]


def test_encryption_emits_frames_while_input_is_still_unread() -> None:
    data = plaintext(8 * MIB + 3)
    source = Metered(data, 65_536)
    seen = consumption_at_each_output(encrypt_stream(KEY1, source, **PLACE), source)
    assert seen[0] == 0  # the header comes before any input is read
    assert len(seen) == 1 + 9
    for number, read in enumerate(seen[1:-1]):
        # Frame `number` is out once one byte past it has arrived: never more than a chunk later.
        assert read <= (number + 1) * F + 65_536
    assert seen[1] < len(data) // 4
    assert seen[-1] == len(data)


def test_decryption_emits_frames_while_input_is_still_unread() -> None:
    data = plaintext(8 * MIB + 3)
    blob = seal(data)
    source = Metered(blob, 65_536)
    outputs: list[bytes] = []
    seen: list[int] = []
    for piece in decrypt_stream(ring(KEY1), source, **PLACE):
        outputs.append(piece)
        seen.append(source.read)
    assert b"".join(outputs) == data
    assert len(seen) == 9
    for number, read in enumerate(seen[:-1]):
        assert read <= HEADER_SIZE + (number + 1) * SEALED + 65_536
    assert seen[0] < len(blob) // 4


def test_bad_arguments_are_refused_before_any_input_is_read() -> None:
    def untouchable() -> Iterator[bytes]:
        raise AssertionError("input was read")
        yield b""  # pragma: no cover

    with pytest.raises(EncryptionError) as caught:
        encrypt_stream(KEY1, untouchable(), frame_size=F - 1, **PLACE)
    assert caught.value.reason == "invalid_frame_size"
    nowhere = {**PLACE, "tenant_id": ""}
    with pytest.raises(EncryptionError) as caught:
        encrypt_stream(KEY1, untouchable(), **nowhere)
    assert caught.value.reason == "invalid_context"
    with pytest.raises(EncryptionError) as caught:
        decrypt_stream(ring(KEY1), untouchable(), **nowhere)
    assert caught.value.reason == "invalid_context"


@pytest.mark.parametrize(
    "frame_size", [0, 1, 64 * 1024, F - 1, MAX_FRAME_SIZE + 1, True, 1.5 * MIB]
)
def test_frame_sizes_outside_one_to_four_mib_are_refused(frame_size: Any) -> None:
    with pytest.raises(EncryptionError) as caught:
        encrypt_stream(KEY1, [b"x"], frame_size=frame_size, **PLACE)
    assert caught.value.reason == "invalid_frame_size"
    with pytest.raises(EncryptionError) as caught:
        encrypted_size(10, frame_size)
    assert caught.value.reason == "invalid_frame_size"


@pytest.mark.parametrize(
    ("size", "frame_size", "expected"),
    [
        (0, F, HEADER_SIZE + 16),
        (1, F, HEADER_SIZE + 1 + 16),
        (F, F, HEADER_SIZE + F + 16),
        (F + 1, F, HEADER_SIZE + F + 1 + 32),
        (10 * MIB, 4 * MIB, HEADER_SIZE + 10 * MIB + 48),
    ],
)
def test_encrypted_size(size: int, frame_size: int, expected: int) -> None:
    assert encrypted_size(size, frame_size) == expected


def test_encrypted_size_defaults_to_the_default_frame_size() -> None:
    assert encrypted_size(3 * MIB) == encrypted_size(3 * MIB, DEFAULT_FRAME_SIZE)


@pytest.mark.parametrize("size", [-1, True, 1.0])
def test_encrypted_size_refuses_bad_sizes(size: Any) -> None:
    with pytest.raises(EncryptionError) as caught:
        encrypted_size(size)
    assert caught.value.reason == "invalid_size"
