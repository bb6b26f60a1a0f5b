"""The Merkle tree and its proofs against the published RFC 6962 / 9162 reference vectors.

The leaves, roots and proofs below are the reference vectors of the public certificate
transparency implementations: transparency-dev/merkle, `proof/verify_test.go` (commit
02194e9afb6c1d95b5381350007963aa70fff472), the same values as certificate-transparency-go's
`merkletree` tests. Its inclusion vectors number leaves from 1; here they are numbered from 0.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantry.platform.audit.merkle import (
    EMPTY_ROOT,
    FetchedNodes,
    MemoryNodes,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_read,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
"""ROOTS[n - 1] is the root of the tree of the first n LEAVES."""


def _h(*hexes: str) -> list[bytes]:
    return [bytes.fromhex(h) for h in hexes]


INCLUSION = [  # (index, size, proof)
    (0, 1, []),
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
]

CONSISTENCY = [  # (first, second, proof)
    (1, 1, []),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _tree(n: int) -> MemoryNodes:
    return MemoryNodes(leaf_hash(leaf) for leaf in LEAVES[:n])


def test_the_empty_log_has_the_hash_of_the_empty_string() -> None:
    assert root_hash(MemoryNodes(), 0) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_of_every_size_match_the_reference(n: int) -> None:
    assert root_hash(_tree(8), n) == ROOTS[n - 1]
    assert root_hash(_tree(n), n) == ROOTS[n - 1]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, proof: list[bytes]) -> None:
    tree = _tree(8)
    assert inclusion_proof(tree, index, size) == proof
    assert verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(
    first: int, second: int, proof: list[bytes]
) -> None:
    assert consistency_proof(_tree(8), first, second) == proof
    assert verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], proof)


def _flipped(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    changed = list(proof)
    changed[i] = bytes([changed[i][0] ^ bit]) + changed[i][1:]
    return changed


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_are_refused(index: int, size: int, proof: list[bytes]) -> None:
    """The corruptions the reference tests try (verify_test.go, corruptInclusionProof)."""
    leaf, root = leaf_hash(LEAVES[index]), ROOTS[size - 1]
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
        (index, size, root, leaf, proof[:-1]),
    ]
    probes += [(index, size, root, leaf, _flipped(proof, i, 8)) for i in range(len(proof))]
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    for i, s, r, lf, p in probes:
        assert not verify_inclusion(lf, i, s, p, r), (i, s)


@pytest.mark.parametrize(("first", "second", "proof"), [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_are_refused(
    first: int, second: int, proof: list[bytes]
) -> None:
    """The corruptions the reference tests try (verify_test.go, corruptConsistencyProof)."""
    r1, r2 = ROOTS[first - 1], ROOTS[second - 1]
    probes = [
        (first - 1, second, r1, r2, proof),
        (first + 1, second, r1, r2, proof),
        (first ^ 2, second, r1, r2, proof),
        (first, second * 2, r1, r2, proof),
        (first, second // 2, r1, r2, proof),
        (first, second, b"WrongRoot", r2, proof),
        (first, second, r1, b"WrongRoot", proof),
        (first, second, r2, r1, proof),
        (first, second, r1, r2, []),
        (first, second, r1, r2, [*proof, b""]),
        (first, second, r1, r2, [*proof, r1]),
        (first, second, r1, r2, [*proof, r2]),
        (first, second, r1, r2, [b"", *proof]),
        (first, second, r1, r2, [r1, *proof]),
        (first, second, r1, r2, [r2, *proof]),
        (first, second, r1, r2, [proof[0], *proof]),
        (first, second, r1, r2, proof[:-1]),
    ]
    probes += [(first, second, r1, r2, _flipped(proof, i, 16)) for i in range(len(proof))]
    for f, s, a, b, p in probes:
        assert not verify_consistency(f, s, a, b, p), (f, s)


def test_edge_cases_of_consistency_as_the_reference_decides_them() -> None:
    """verify_test.go, TestVerifyConsistency: the sizes and roots that are (not) consistent."""
    root1, root2 = b"don't care 1", b"don't care 2"
    assert not verify_consistency(0, 0, root1, root2, [])
    assert not verify_consistency(1, 1, root1, root2, [])
    assert verify_consistency(0, 0, root1, root1, [])
    assert verify_consistency(0, 1, root1, root2, [])
    assert verify_consistency(1, 1, root2, root2, [])
    assert not verify_consistency(1, 0, root1, root2, [])
    assert not verify_consistency(2, 1, root1, root2, [])
    assert not verify_consistency(1, 2, root1, root2, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, root2, [])
    assert not verify_consistency(1, 1, EMPTY_ROOT, root2, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_a_single_entry_is_its_own_root() -> None:
    digest = leaf_hash(b"data")
    assert verify_inclusion(digest, 0, 1, [], digest)
    assert not verify_inclusion(b"", 0, 1, [], digest)
    assert not verify_inclusion(digest, 0, 1, [], b"")
    for index, size in ((0, 0), (1, 0), (2, 1)):
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_proofs_outside_the_log_are_refused() -> None:
    tree = _tree(8)
    with pytest.raises(ProofError):
        inclusion_proof(tree, 8, 8)
    with pytest.raises(ProofError):
        inclusion_proof(tree, -1, 8)
    with pytest.raises(ProofError):
        consistency_proof(tree, 5, 4)


def test_a_proof_reads_its_nodes_in_one_fetch() -> None:
    tree = MemoryNodes(leaf_hash(i.to_bytes(4, "big")) for i in range(1000))
    wanted = nodes_read(lambda nodes: inclusion_proof(nodes, 613, 997))
    fetched = FetchedNodes({(level, i): tree.node(level, i) for level, i in wanted})
    assert inclusion_proof(fetched, 613, 997) == inclusion_proof(tree, 613, 997)
    assert len(wanted) <= 2 * 10


def _reference_root(leaves: list[bytes]) -> bytes:
    """MTH written straight from RFC 9162's recursive definition, over whole lists."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = _reference_root(leaves[:k]), _reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@given(
    st.lists(st.binary(max_size=8), min_size=1, max_size=70),
    st.data(),
)
def test_every_proof_verifies_and_a_changed_entry_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = MemoryNodes(leaf_hash(leaf) for leaf in leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    first = data.draw(st.integers(0, size), label="first")
    index = data.draw(st.integers(0, size - 1), label="index")
    root = root_hash(tree, size)
    assert root == _reference_root(leaves[:size])

    proof = inclusion_proof(tree, index, size)
    assert verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(leaves[index] + b"!"), index, size, proof, root)

    first_root = root_hash(tree, first)
    proof = consistency_proof(tree, first, size)
    assert verify_consistency(first, size, first_root, root, proof)
    if 0 < first < size:
        changed = [*leaves[:size]]
        changed[index if index < first else 0] += b"!"
        forged_first = _reference_root(changed[:first])
        assert not verify_consistency(first, size, forged_first, root, proof)
