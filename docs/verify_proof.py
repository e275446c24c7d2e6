#!/usr/bin/env python3
"""Check a privguard access-log proof with nothing but Python's standard library.

    python verify_proof.py PROOF.json PUBLIC_KEY [--pure-python]

PROOF.json is what ``privguard audit proof SUBJECT_ID`` wrote (format in docs/access-log.md).
PUBLIC_KEY is the log's Ed25519 public key, 64 hex characters, or a file holding them (the
output of ``privguard audit public-key``). Get it from the operator through a channel you trust,
not from the proof: a proof is only as good as the key you check it with.

The script checks that the tree head is signed by that key, then that every entry in the proof
is in the tree under that head at the position it claims (RFC 9162 section 2.1.3.2) and is about
the subject the proof names. It prints one line per entry, OK or FAIL, and exits 0 only if every
check passed (1: a check failed; 2: the files could not be read).

Ed25519: if the ``cryptography`` package can be imported it is used; otherwise (or with
``--pure-python``) the reference verification code of RFC 8032 section 6 below. That code is
slow and not constant-time, which does not matter for checking a public signature, and it is
here only because this script must run with the standard library alone.
"""

from __future__ import annotations

import hashlib
import json
import sys

FORMAT = "privguard-subject-proof/v1"

# ----------------------------------------------------------------------------------------------
# RFC 8032 section 6, "Ed25519 Python Illustration": the reference code, verification only.
# Two changes from the RFC's text, both marked: x2 is reduced mod p, and a signature of the
# wrong length returns False (the RFC builds an exception there but forgets to raise it).
# ----------------------------------------------------------------------------------------------


def sha512(s: bytes) -> bytes:
    return hashlib.sha512(s).digest()


p = 2**255 - 19


def modp_inv(x: int) -> int:
    return pow(x, p - 2, p)


d = -121665 * modp_inv(121666) % p
q = 2**252 + 27742317777372353535851937790883648493


def sha512_modq(s: bytes) -> int:
    return int.from_bytes(sha512(s), "little") % q


def point_add(P: tuple, Q: tuple) -> tuple:
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def point_mul(s: int, P: tuple) -> tuple:
    Q = (0, 1, 1, 0)  # Neutral element
    while s > 0:
        if s & 1:
            Q = point_add(Q, P)
        P = point_add(P, P)
        s >>= 1
    return Q


def point_equal(P: tuple, Q: tuple) -> bool:
    # x1 / z1 == x2 / z2  <==>  x1 * z2 == x2 * z1
    if (P[0] * Q[2] - Q[0] * P[2]) % p != 0:
        return False
    return (P[1] * Q[2] - Q[1] * P[2]) % p == 0


modp_sqrt_m1 = pow(2, (p - 1) // 4, p)


def recover_x(y: int, sign: int) -> int | None:
    if y >= p:
        return None
    x2 = (y * y - 1) * modp_inv(d * y * y + 1) % p  # changed: "% p" added
    if x2 == 0:
        if sign:
            return None
        return 0
    # Compute square root of x2
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * modp_sqrt_m1 % p
    if (x * x - x2) % p != 0:
        return None
    if (x & 1) != sign:
        x = p - x
    return x


g_y = 4 * modp_inv(5) % p
g_x = recover_x(g_y, 0)
assert g_x is not None
G = (g_x, g_y, 1, g_x * g_y % p)


def point_decompress(s: bytes) -> tuple | None:
    if len(s) != 32:
        raise Exception("Invalid input length for decompression")
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % p)


def verify(public: bytes, msg: bytes, signature: bytes) -> bool:
    if len(public) != 32:
        raise Exception("Bad public key length")
    if len(signature) != 64:
        return False  # changed: the RFC's text omits "raise" here
    A = point_decompress(public)
    if not A:
        return False
    Rs = signature[:32]
    R = point_decompress(Rs)
    if not R:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= q:
        return False
    h = sha512_modq(Rs + public + msg)
    sB = point_mul(s, G)
    hA = point_mul(h, A)
    return point_equal(sB, point_add(R, hA))


# ---------------------------------------------------------------------- end of RFC 8032 code


def ed25519_verify(public: bytes, msg: bytes, signature: bytes, pure: bool) -> bool:
    if not pure:
        try:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        except ImportError:
            pure = True
    if pure:
        return verify(public, msg, signature)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hash(leaf_index: int, entry: str) -> bytes:
    return hashlib.sha256(b"\x00" + str(leaf_index).encode("ascii") + b"\n"
                          + entry.encode("utf-8")).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p_ in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p_, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p_)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def read_public_key(arg: str) -> bytes:
    """The key itself (64 hex characters), or a file holding it."""
    text = arg.strip()
    try:
        key = bytes.fromhex(text) if len(text) == 64 else b""
    except ValueError:
        key = b""
    if not key:
        with open(arg, encoding="ascii") as fh:
            key = bytes.fromhex(fh.read().strip())
    if len(key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes (64 hex characters)")
    return key


def check(proof: dict, public_key: bytes, pure: bool) -> bool:
    """Print what holds and what does not; True when everything holds."""
    if proof.get("format") != FORMAT:
        print(f"FAIL  not a {FORMAT} document")
        return False
    head = proof.get("tree_head")
    if head is None:
        print("FAIL  the log had no signed tree head yet: nothing is proven")
        return False
    ok = True
    key_id = hashlib.sha256(public_key).hexdigest()[:16]
    if head.get("public_key", public_key.hex()) != public_key.hex():
        print(f"FAIL  the proof names public key {head.get('public_key')}, not yours")
        ok = False
    size = int(head["tree_size"])
    root = bytes.fromhex(head["root_hash"])
    message = b"privguard-tree-head/v1\n%d\n%s\n%s\n" % (
        size, head["timestamp"].encode("ascii"), root.hex().encode("ascii"))
    signed = ed25519_verify(public_key, message, bytes.fromhex(head["signature"]), pure)
    print(f"{'OK  ' if signed else 'FAIL'}  tree head: {size} entries, root {root.hex()}, "
          f"signed {head['timestamp']} by key {key_id}"
          + ("" if signed else " -- the signature does not verify"))
    ok = ok and signed
    subject = proof.get("subject_id")
    for item in proof.get("entries", []):
        index = int(item["leaf_index"])
        entry = item["entry"]
        path = [bytes.fromhex(h) for h in item["audit_path"]]
        problems = []
        if not verify_inclusion(leaf_hash(index, entry), index, size, path, root):
            problems.append("not in the signed tree at this position")
        try:
            data = json.loads(entry)
        except ValueError:
            data = {}
            problems.append("not a readable entry")
        if data.get("subject") != subject:
            problems.append(f"about subject {data.get('subject')}, not {subject}")
        fields = ",".join(x.get("field", "?") for x in data.get("decisions", []))
        line = (f"leaf {index}  {data.get('at')}  {data.get('action')}  "
                f"purpose={data.get('purpose')}  role={data.get('role')}  fields={fields}")
        if problems:
            ok = False
            print(f"FAIL  {line} -- {'; '.join(problems)}")
        else:
            print(f"OK    {line}")
    n = len(proof.get("entries", []))
    print(("all checks passed" if ok else "SOME CHECKS FAILED")
          + f": {n} {'entry' if n == 1 else 'entries'} against the head of size {size}"
          + ("" if not ok else "; keep this tree head: a later proof must extend it"))
    return ok


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    pure = "--pure-python" in argv
    if len(args) != 2 or any(a not in ("--pure-python",) for a in argv if a.startswith("--")):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as fh:
            proof = json.load(fh)
        public_key = read_public_key(args[1])
    except (OSError, ValueError) as exc:
        print(f"cannot read the proof or the public key: {exc}", file=sys.stderr)
        return 2
    try:
        return 0 if check(proof, public_key, pure) else 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"FAIL  malformed proof: {exc!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
