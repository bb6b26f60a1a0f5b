"""The Merkle tree of RFC 9162 (certificate transparency 2.0, section 2.1), so an audit log can
prove it only ever grew.

A log of n entries D[0:n] has the Merkle tree hash MTH(D[0:n]): SHA-256(0x00 || d) for a single
entry, SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) otherwise, k being the largest power of two
smaller than n. The tree is never rebuilt: every complete subtree of 2**level entries starting
at entry `index * 2**level` is stored once as the node (level, index) (see `MemoryNodes`, or the
audit service's node table), and any hash the proofs need is put together from at most two
such nodes per level. A proof for a log of a million entries reads about forty nodes.

`inclusion_proof` and `consistency_proof` are the PATH and PROOF of RFC 9162 section 2.1.3.1
and 2.1.4.1; `verify_inclusion` and `verify_consistency` are the verification algorithms of
sections 2.1.3.2 and 2.1.4.2, which a client runs with no access to the tree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty log: the hash of the empty string."""

Node = tuple[int, int]
"""A complete subtree (level, index): entries [index * 2**level, (index + 1) * 2**level)."""


class ProofError(ValueError):
    """A proof asked for sizes or indexes the log cannot prove (index beyond size, A > B, ...)."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one log entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where the tree of n entries splits."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeSource(Protocol):
    """Where complete subtrees' hashes come from (memory, or the audit service's table)."""

    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree (level, index); it must exist."""
        ...


def subtree_hash(nodes: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the recursion of RFC 9162 produces: `start` is a multiple
    of the largest power of two not smaller than `end - start`, and the range is complete
    except, perhaps, at the log's right edge."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return nodes.node(level, start >> level)
    k = split_point(n)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def root_hash(nodes: NodeSource, size: int) -> bytes:
    """MTH(D[0:size]): the root of the log when it held `size` entries."""
    return subtree_hash(nodes, 0, size)


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 2.1.3.1): the hashes that lead entry `index` to the
    root of the tree of `size` entries, nearest the leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a log of {size} entries")
    return _path(nodes, index, 0, size)


def _path(nodes: NodeSource, m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*_path(nodes, m, start, start + k), subtree_hash(nodes, start + k, end)]
    return [*_path(nodes, m - k, start + k, end), subtree_hash(nodes, start, start + k)]


def consistency_proof(nodes: NodeSource, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]) (RFC 9162 2.1.4.1): the hashes that show the tree of `first`
    entries is a prefix of the tree of `second` entries."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from {first} to {second} entries")
    if first == 0 or first == second:
        return []
    return _subproof(nodes, first, 0, second, True)


def _subproof(nodes: NodeSource, m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [subtree_hash(nodes, start, end)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(nodes, m, start, start + k, whole), subtree_hash(nodes, start + k, end)]
    return [*_subproof(nodes, m - k, start + k, end, False), subtree_hash(nodes, start, start + k)]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does `proof` lead the leaf hash `leaf` at `index` to `root` in a tree
    of `size` entries?"""
    if not 0 <= index < size or any(len(h) != HASH_SIZE for h in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show the tree of `first` entries with root `first_root`
    is a prefix of the tree of `second` entries with root `second_root`?"""
    if not 0 <= first <= second or any(len(h) != HASH_SIZE for h in proof):
        return False
    if first == second:
        return not proof and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is itself a node of the proof
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


def new_nodes(size: int, leaf: bytes, nodes: NodeSource) -> list[tuple[int, int, bytes]]:
    """The nodes that appending the leaf hash `leaf` as entry `size` completes, as
    (level, index, hash): the leaf itself and every subtree it closes, lowest first."""
    made = [(0, size, leaf)]
    level, index, current = 0, size, leaf
    while index & 1:
        left = nodes.node(level, index - 1)
        current = node_hash(left, current)
        level, index = level + 1, index >> 1
        made.append((level, index, current))
    return made


class _Recorder:
    """A stand-in source that notes which nodes a computation reads (their values do not
    change which nodes are read)."""

    def __init__(self) -> None:
        self.wanted: set[Node] = set()

    def node(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return EMPTY_ROOT


def nodes_read(compute: Callable[[NodeSource], object]) -> set[Node]:
    """Which nodes `compute` reads, so a store can fetch them all in one query first."""
    recorder = _Recorder()
    compute(recorder)
    return recorder.wanted


class FetchedNodes:
    """Nodes fetched beforehand (see `nodes_read`), as a source."""

    def __init__(self, fetched: dict[Node, bytes]) -> None:
        self._fetched = fetched

    def node(self, level: int, index: int) -> bytes:
        try:
            return self._fetched[(level, index)]
        except KeyError:
            raise LookupError(f"node ({level}, {index}) is not stored") from None


class MemoryNodes:
    """A whole tree's complete subtrees in memory: for tests, benchmarks and verifiers."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        """How many entries the log holds."""
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add the leaf hash `leaf` as the next entry."""
        for level, index, digest in new_nodes(self.size, leaf, self):
            if level == len(self._levels):
                self._levels.append([])
            if index != len(self._levels[level]):
                raise AssertionError("nodes are completed in order")
            self._levels[level].append(digest)

    def node(self, level: int, index: int) -> bytes:
        return self._levels[level][index]
