"""RFC 6962 / RFC 9162 Merkle tree hashing over bytes, with no database and no state.

The access log is only worth something if anyone can recompute it: an auditor with a dump, a
consumer with a proof, a script with nothing but the standard library (docs/verify_proof.py).
So this module is the tree exactly as the RFCs define it, over plain bytes, and nothing else:

* ``leaf_hash(d) = SHA-256(0x00 || d)``, ``node_hash(l, r) = SHA-256(0x01 || l || r)``; the
  different prefixes stop a leaf from being passed off as an inner node (second preimages).
* The tree over ``n`` leaves splits at the largest power of two below ``n`` (RFC 9162 2.1.1);
  building it bottom-up, pairing neighbours and carrying an odd last node up unchanged, gives the
  same tree, and that is how :func:`root_of` and :class:`MerkleLevels` build it, in one pass.
* :class:`Frontier` is the tree's compact range: the roots of its perfect subtrees, left to
  right. It is all the sequencer stores between batches (``log_tree_heads.frontier``), so
  appending a batch never reads an earlier leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 2.1.1: the hash of an empty string)."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    """Pair neighbours; an odd last node moves up unchanged (it is the right-hand subtree)."""
    up = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of these leaf hashes (``EMPTY_ROOT`` for none)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class MerkleLevels:
    """Every level of one tree, built once, so many inclusion proofs cost O(log n) each.

    A consumer's proof needs a path for each of their entries, all against the same head; building
    the levels of a million leaves takes about a second, a path from them microseconds.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.size = len(leaf_hashes)
        levels: list[Sequence[bytes]] = [leaf_hashes]
        while len(levels[-1]) > 1:
            levels.append(_next_level(levels[-1]))
        self._levels = levels

    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, leaf to root (RFC 9162 2.1.3.1's PATH)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of size {self.size}")
        path: list[bytes] = []
        i = index
        for level in self._levels[:-1]:
            sibling = i ^ 1
            if sibling < len(level):  # else i is an odd last node, carried up: no sibling here
                path.append(level[sibling])
            i >>= 1
        return path


def inclusion_proof(leaf_hashes: Sequence[bytes] | MerkleLevels, index: int) -> list[bytes]:
    """The audit path of leaf ``index``; pass a :class:`MerkleLevels` when you need many."""
    levels = leaf_hashes if isinstance(leaf_hashes, MerkleLevels) else MerkleLevels(leaf_hashes)
    return levels.inclusion_proof(index)


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, step for step: does ``path`` lead from ``leaf`` to ``root``?"""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if len(p) != HASH_BYTES or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


class Frontier:
    """The compact range [0, size): roots of the perfect subtrees, largest (leftmost) first.

    A tree of ``size`` leaves has one perfect subtree per 1-bit of ``size``; appending a leaf
    works like incrementing a binary counter (merge equal-sized subtrees from the right). The
    root folds the subtrees from the right. Both are O(log n) and need no earlier leaf.
    """

    __slots__ = ("_roots", "size")

    def __init__(self, size: int = 0, roots: Iterable[bytes] = ()) -> None:
        self.size = size
        self._roots = list(roots)
        if len(self._roots) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} perfect subtrees")

    @property
    def roots(self) -> tuple[bytes, ...]:
        return tuple(self._roots)

    def append(self, leaf: bytes) -> None:
        roots = self._roots
        size = self.size
        node = leaf
        while size & 1:  # the rightmost subtree has the size of the new one: merge them
            node = node_hash(roots.pop(), node)
            size >>= 1
        roots.append(node)
        self.size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._roots:
            return EMPTY_ROOT
        it = reversed(self._roots)
        r = next(it)
        for left in it:
            r = node_hash(left, r)
        return r

    def subtree_ranges(self) -> list[tuple[int, int]]:
        """The leaf ranges ``[start, end)`` of the perfect subtrees, in ``roots`` order."""
        ranges = []
        start = 0
        for bit in reversed(range(self.size.bit_length())):
            if self.size >> bit & 1:
                ranges.append((start, start + (1 << bit)))
                start += 1 << bit
        return ranges

    def to_bytes(self) -> bytes:
        return b"".join(self._roots)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        if len(data) != size.bit_count() * HASH_BYTES:
            raise ValueError(
                f"a frontier of a tree of size {size} is {size.bit_count() * HASH_BYTES} bytes, "
                f"not {len(data)}"
            )
        return cls(size, [data[i : i + HASH_BYTES] for i in range(0, len(data), HASH_BYTES)])

    def copy(self) -> Frontier:
        return Frontier(self.size, self._roots)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Frontier)
            and self.size == other.size
            and self._roots == other._roots
        )

    def __hash__(self) -> int:
        return hash((self.size, self.to_bytes()))

    def __repr__(self) -> str:
        return f"Frontier(size={self.size}, root={self.root().hex()[:16]}…)"
