"""The Merkle tree against RFC 6962 / RFC 9162: published vectors and the recursive definition.

A log whose tree no other implementation agrees with proves nothing to anyone, so the roots and
paths are checked against the Certificate Transparency reference vectors and against a literal
transcription of the RFC's recursive definition, for every tree size up to 70.
"""

from __future__ import annotations

import hashlib

import pytest

from privguard.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleLevels,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_inclusion,
)

# Certificate Transparency's test leaves and the roots of their prefixes (sizes 0..8).
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, audit path) from CT's merkle verifier tests.
CT_PATHS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


def mth(data: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, transcribed: MTH over the leaf *inputs*, split at k < n, k a power of 2."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


def rfc_path(m: int, data: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]), transcribed."""
    n = len(data)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*rfc_path(m, data[:k]), mth(data[k:])]
    return [*rfc_path(m - k, data[k:]), mth(data[:k])]


def inputs(n: int) -> list[bytes]:
    return [b"%d\nentry-%d" % (i, i * 7919) for i in range(n)]


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]
    assert root_of([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT
    assert MerkleLevels([]).root() == EMPTY_ROOT


def test_leaf_and_node_hashes_use_distinct_prefixes() -> None:
    assert leaf_hash(b"").hex() == CT_ROOTS[1]
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    # A leaf whose data is two hashes must not collide with the node over them.
    assert leaf_hash(a + b) != node_hash(a, b)


def test_certificate_transparency_roots() -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES]
    frontier = Frontier()
    for n in range(len(CT_LEAVES) + 1):
        assert root_of(hashes[:n]).hex() == CT_ROOTS[n], n
        assert frontier.root().hex() == CT_ROOTS[n], n
        if n < len(hashes):
            frontier.append(hashes[n])


@pytest.mark.parametrize(("index", "size", "path"), CT_PATHS)
def test_certificate_transparency_paths(index: int, size: int, path: list[str]) -> None:
    hashes = [leaf_hash(d) for d in CT_LEAVES[:size]]
    assert [p.hex() for p in inclusion_proof(hashes, index)] == path
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(hashes[index], index, size, [bytes.fromhex(p) for p in path], root)


def test_roots_frontiers_and_paths_equal_the_recursive_definition_up_to_70() -> None:
    data = inputs(70)
    hashes = [leaf_hash(d) for d in data]
    frontier = Frontier()
    for n in range(1, 71):
        frontier.append(hashes[n - 1])
        expected = mth(data[:n])
        assert root_of(hashes[:n]) == expected, n
        assert frontier.root() == expected, n
        # The frontier's subtrees are exactly the RFC's perfect subtrees, left to right.
        assert list(frontier.roots) == [mth(data[a:b]) for a, b in frontier.subtree_ranges()]
        levels = MerkleLevels(hashes[:n])
        assert levels.root() == expected
        for m in range(n):
            path = levels.inclusion_proof(m)
            assert path == rfc_path(m, data[:n]), (m, n)
            assert verify_inclusion(hashes[m], m, n, path, expected), (m, n)


def test_wrong_index_leaf_root_or_path_fail() -> None:
    # (The tree size alone may change without changing the path's shape: the size is bound to
    # the root by the signed tree head, not by the path.)
    hashes = [leaf_hash(d) for d in inputs(37)]
    levels = MerkleLevels(hashes)
    root = levels.root()
    other_root = root_of(hashes[:36])
    for m in range(37):
        path = levels.inclusion_proof(m)
        assert verify_inclusion(hashes[m], m, 37, path, root)
        assert not verify_inclusion(hashes[(m + 1) % 37], m, 37, path, root)
        assert not verify_inclusion(hashes[m], (m + 1) % 37, 37, path, root)
        assert not verify_inclusion(hashes[m], m, 37, path, other_root)
        assert not verify_inclusion(hashes[m], m, 37, [*path, path[0]], root)
        assert not verify_inclusion(hashes[m], m, 37, path[:-1], root)
        bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not verify_inclusion(hashes[m], m, 37, bent, root)
    assert not verify_inclusion(hashes[0], 37, 37, [], root)
    assert not verify_inclusion(hashes[0], -1, 37, [], root)
    with pytest.raises(IndexError):
        levels.inclusion_proof(37)


def test_single_leaf_tree_has_an_empty_path() -> None:
    h = leaf_hash(b"only")
    assert inclusion_proof([h], 0) == []
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], EMPTY_ROOT)


def test_frontier_round_trips_through_bytes_and_resumes() -> None:
    hashes = [leaf_hash(d) for d in inputs(45)]
    whole = Frontier()
    whole.extend(hashes)
    for cut in (0, 1, 7, 8, 31, 32, 44):
        first = Frontier()
        first.extend(hashes[:cut])
        stored = first.to_bytes()
        assert len(stored) == cut.bit_count() * 32
        resumed = Frontier.from_bytes(cut, stored)
        resumed.extend(hashes[cut:])
        assert resumed == whole
        assert resumed.root() == root_of(hashes)
    with pytest.raises(ValueError):
        Frontier.from_bytes(3, b"\x00" * 32)  # size 3 needs two subtree roots
