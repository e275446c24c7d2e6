"""Inclusion proofs for a consumer: every logged access to their data, provably in the log.

PIPL Art. 45 lets a person see what is done with their information; a list of accesses is only
worth something if the person can check that it is the list the log holds and that it did not
change later. The proof carries the latest signed tree head and, for each entry about the
subject, the exact entry text, its leaf index and its RFC 9162 audit path. Anyone with the log's
public key can check it with docs/verify_proof.py (standard library only) or any RFC 6962 tool.
The format is documented field by field in docs/access-log.md; change it only with a new
``format``.

Entries hold no PI values (only field names, rule ids, ids and purposes), so a proof can be
handed to the person, or to their lawyer, as it is.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from hashlib import sha256
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from privguard.audit.entry import format_time
from privguard.audit.merkle import MerkleLevels
from privguard.audit.models import AccessLogEntry, TreeHead
from privguard.crypto.signing import (
    MESSAGE_FORMAT,
    LogSigner,
    key_id_of,
    verify_tree_head,
)

PROOF_FORMAT = "privguard-subject-proof/v1"
ACCESS_LOG = AccessLogEntry.__table__
HEADS = TreeHead.__table__


class ProofUnavailable(RuntimeError):
    """The log does not agree with its own signed head: a proof would be a lie, so none is made.

    Run ``privguard audit verify`` to find out what was changed.
    """


def _connection(db: Session | Connection) -> Connection:
    return db.connection() if isinstance(db, Session) else db


def latest_head(db: Session | Connection) -> dict[str, Any] | None:
    """The newest signed tree head as JSON-able values (``privguard audit head``), or None."""
    row = (
        _connection(db)
        .execute(select(HEADS).order_by(HEADS.c.tree_size.desc()).limit(1))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return {
        "tree_size": row["tree_size"],
        "root_hash": bytes(row["root_hash"]).hex(),
        "timestamp": format_time(row["signed_at"]),
        "signature": bytes(row["signature"]).hex(),
        "key_id": row["key_id"],
    }


def _head_json(head: dict[str, Any], public_key: bytes) -> dict[str, Any]:
    return {
        **head,
        "signature_encoding": "hex",
        "algorithm": "Ed25519",
        "public_key": public_key.hex(),
        "message_format": MESSAGE_FORMAT,
    }


def head_is_signed(head: dict[str, Any], public_key: bytes) -> bool:
    return verify_tree_head(
        public_key,
        head["tree_size"],
        datetime.fromisoformat(head["timestamp"].replace("Z", "+00:00")),
        bytes.fromhex(head["root_hash"]),
        bytes.fromhex(head["signature"]),
    )


def subject_proof(
    db: Session | Connection,
    signer_or_public_key: LogSigner | bytes,
    subject_id: uuid.UUID,
) -> dict[str, Any]:
    """The proof document (JSON-able) for every sequenced entry about ``subject_id``.

    Entries written but not yet sequenced are not in it: run the sequencer first (the CLI does).
    Raises :class:`ProofUnavailable` when the stored tree does not reproduce the signed head.
    """
    public_key = (
        signer_or_public_key.public_key_bytes
        if isinstance(signer_or_public_key, LogSigner)
        else bytes(signer_or_public_key)
    )
    conn = _connection(db)
    document: dict[str, Any] = {
        "format": PROOF_FORMAT,
        "subject_id": str(subject_id),
        "leaf_hash": "SHA-256(0x00 || ASCII decimal leaf_index || 0x0A || entry as UTF-8)",
        "node_hash": "SHA-256(0x01 || left || right), tree as in RFC 9162 section 2.1.1",
        "tree_head": None,
        "entries": [],
    }
    head = latest_head(conn)
    if head is None:
        return document
    if head["key_id"] != key_id_of(public_key) or not head_is_signed(head, public_key):
        raise ProofUnavailable(
            f"the latest tree head (size {head['tree_size']}) is not signed by key "
            f"{key_id_of(public_key)}"
        )
    size = head["tree_size"]
    leaves = _leaf_hashes(conn, size)
    levels = MerkleLevels(leaves)
    if levels.root().hex() != head["root_hash"]:
        raise ProofUnavailable(
            f"the stored leaf hashes do not reproduce the signed root of size {size}"
        )
    rows = conn.execute(
        select(ACCESS_LOG.c.seq, ACCESS_LOG.c.entry)
        .where(
            ACCESS_LOG.c.subject_id == subject_id,
            ACCESS_LOG.c.seq.is_not(None),
            ACCESS_LOG.c.seq < size,
        )
        .order_by(ACCESS_LOG.c.seq)
    ).all()
    entries = []
    for seq, entry in rows:
        if sha256(b"\x00%d\n" % seq + entry.encode()).digest() != leaves[seq]:
            raise ProofUnavailable(f"the entry at position {seq} does not match its leaf hash")
        if json.loads(entry).get("subject") != str(subject_id):
            raise ProofUnavailable(
                f"the entry at position {seq} is filed under this subject but is about another"
            )
        entries.append(
            {
                "leaf_index": seq,
                "entry": entry,
                "audit_path": [h.hex() for h in levels.inclusion_proof(seq)],
            }
        )
    document["tree_head"] = _head_json(head, public_key)
    document["entries"] = entries
    return document


def _leaf_hashes(conn: Connection, size: int) -> list[bytes]:
    """Leaf hashes 0..size-1 from the log, checked to be exactly that many, in order."""
    rows = conn.execute(
        select(ACCESS_LOG.c.seq, ACCESS_LOG.c.leaf_hash)
        .where(ACCESS_LOG.c.seq.is_not(None), ACCESS_LOG.c.seq < size)
        .order_by(ACCESS_LOG.c.seq)
    )
    leaves: list[bytes] = []
    for seq, digest in rows:
        if seq != len(leaves) or digest is None:
            raise ProofUnavailable(f"the log has no proper entry at position {len(leaves)}")
        leaves.append(bytes(digest))
    if len(leaves) != size:
        raise ProofUnavailable(f"the log has {len(leaves)} entries, its signed head {size}")
    return leaves
