"""docs/verify_proof.py's own building blocks: the embedded RFC 8032 Ed25519 verification and
the RFC 9162 inclusion check must agree with `cryptography` and with privguard's Merkle code,
since outside verifiers run the script, not privguard."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privguard.audit.entry import leaf_input
from privguard.audit.merkle import MerkleLevels, leaf_hash

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "verify_proof.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_proof", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rfc8032_test_vector_1(script: ModuleType) -> None:
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
        "39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert script.verify(public, b"", signature)
    assert not script.verify(public, b"\x00", signature)
    assert not script.verify(public, b"", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert not script.verify(public, b"", signature[:63])


def test_pure_python_ed25519_agrees_with_cryptography(script: ModuleType) -> None:
    for i in range(12):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = os.urandom(i * 11)
        signature = key.sign(message)
        for pure in (True, False):
            assert script.ed25519_verify(public, message, signature, pure)
            assert not script.ed25519_verify(public, message + b"!", signature, pure)
            flipped = bytes([signature[0] ^ 0x40]) + signature[1:]
            assert not script.ed25519_verify(public, message, flipped, pure)


def test_leaf_hash_and_inclusion_agree_with_privguard(script: ModuleType) -> None:
    entries = [f'{{"n":{i},"who":"客服"}}' for i in range(23)]
    leaves = [leaf_hash(leaf_input(i, e)) for i, e in enumerate(entries)]
    levels = MerkleLevels(leaves)
    for i, e in enumerate(entries):
        assert script.leaf_hash(i, e) == leaves[i]
        path = levels.inclusion_proof(i)
        assert script.verify_inclusion(leaves[i], i, 23, path, levels.root())
        assert not script.verify_inclusion(leaves[i], (i + 1) % 23, 23, path, levels.root())
