"""The master keyring: the secrets that wrap per-subject data keys and key the blind indexes.

Stored as JSON (a file of mode 0600, or an environment variable). It holds every master key that
may still wrap a data key, which one is active for new wraps, and the blind-index root key. Old
master keys stay until ``privguard keys retire`` removes them, so an interrupted rotation can
always be resumed and older backups restored until the platform decides they may not be.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from privguard.crypto.errors import KeyringError

FORMAT = "privguard-keyring/1"
KEY_BYTES = 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeyringError(f"keyring: {what} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"keyring: {what} must be {KEY_BYTES} bytes, found {len(raw)}")
    return raw


def new_key_id(now: datetime) -> str:
    return f"mk-{now:%Y%m%d}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Keyring:
    active: str
    master_keys: dict[str, bytes] = field(repr=False)
    index_key: bytes = field(repr=False)
    created: dict[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, now: datetime | None = None) -> Keyring:
        now = now or datetime.now(UTC)
        key_id = new_key_id(now)
        return cls(
            active=key_id,
            master_keys={key_id: secrets.token_bytes(KEY_BYTES)},
            index_key=secrets.token_bytes(KEY_BYTES),
            created={key_id: now.isoformat()},
        )

    def with_new_master_key(self, now: datetime) -> Keyring:
        key_id = new_key_id(now)
        return replace(
            self,
            active=key_id,
            master_keys={**self.master_keys, key_id: secrets.token_bytes(KEY_BYTES)},
            created={**self.created, key_id: now.isoformat()},
        )

    def without(self, key_id: str) -> Keyring:
        if key_id == self.active:
            raise KeyringError(f"keyring: {key_id} is the active master key and cannot be retired")
        if key_id not in self.master_keys:
            raise KeyringError(f"keyring: no master key {key_id}")
        keys = dict(self.master_keys)
        del keys[key_id]
        created = {k: v for k, v in self.created.items() if k != key_id}
        return replace(self, master_keys=keys, created=created)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "active": self.active,
                "master_keys": {
                    k: {"key": _b64(v), "created": self.created.get(k)}
                    for k, v in self.master_keys.items()
                },
                "index_key": _b64(self.index_key),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise KeyringError("keyring: not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError(f"keyring: expected format {FORMAT!r}")
        raw_keys = doc.get("master_keys")
        if not isinstance(raw_keys, dict) or not raw_keys:
            raise KeyringError("keyring: master_keys must be a non-empty object")
        keys: dict[str, bytes] = {}
        created: dict[str, str] = {}
        for key_id, entry in raw_keys.items():
            if not isinstance(entry, dict) or "key" not in entry:
                raise KeyringError(f"keyring: master key {key_id} has no 'key'")
            keys[key_id] = _unb64(entry["key"], f"master key {key_id}")
            if entry.get("created"):
                created[key_id] = str(entry["created"])
        active = doc.get("active")
        if active not in keys:
            raise KeyringError("keyring: 'active' must name one of master_keys")
        index_key = _unb64(str(doc.get("index_key", "")), "index_key")
        return cls(active=active, master_keys=keys, index_key=index_key, created=created)


def write_keyring_file(path: Path, keyring: Keyring) -> None:
    """Write atomically with mode 0600: a crash leaves either the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(keyring.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_keyring_file(path: Path) -> Keyring:
    """Read a keyring file, refusing one that others can read (as ssh does for private keys)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        raise KeyringError(
            f"master key file {path} does not exist: run `privguard init` to create one, "
            "or restore it from your key backup"
        ) from None
    if mode & 0o077:
        raise KeyringError(
            f"master key file {path} has mode {mode:o}; it must be readable by its owner only "
            f"(chmod 600 {path})"
        )
    return Keyring.from_json(path.read_text())
