"""Key providers: who holds the master keys that wrap per-subject data keys.

A provider is a small :class:`KeyProvider` protocol, registered by name, so a deployment can swap
the local keyring for a PKCS#11 HSM or a cloud KMS / HashiCorp Vault transit engine without the
vault noticing (see docs/keys.md). Data keys never leave the process unwrapped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privguard.crypto.errors import DecryptionError, KeyringError
from privguard.crypto.keyring import Keyring, read_keyring_file, write_keyring_file
from privguard.plugins import Registry

NONCE_BYTES = 12


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys under master keys it never reveals to the vault."""

    name: str

    def active_key_id(self) -> str: ...

    def key_ids(self) -> list[str]: ...

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        """Wrap under the active master key; returns (master key id, wrapped bytes)."""
        ...

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Unwrap with the named master key; raises DecryptionError on any failure."""
        ...

    def blind_index_root(self) -> bytes: ...


@runtime_checkable
class RotatingKeyProvider(KeyProvider, Protocol):
    """A provider that can add a new active master key and drop retired ones."""

    def add_master_key(self, now: datetime) -> str: ...

    def retire(self, key_id: str) -> None: ...


class KeyringProvider:
    """Master keys held in a :class:`Keyring` in this process's memory (AES-256-GCM key wrap)."""

    name = "keyring"

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aeads = {k: AESGCM(v) for k, v in keyring.master_keys.items()}

    def active_key_id(self) -> str:
        return self._keyring.active

    def key_ids(self) -> list[str]:
        return list(self._keyring.master_keys)

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        key_id = self._keyring.active
        nonce = os.urandom(NONCE_BYTES)
        return key_id, nonce + self._aeads[key_id].encrypt(nonce, data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        aead = self._aeads.get(key_id)
        if aead is None or len(wrapped) < NONCE_BYTES + 16:
            raise DecryptionError()
        try:
            return aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            raise DecryptionError() from None

    def blind_index_root(self) -> bytes:
        return self._keyring.index_key

    def _replace_keyring(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aeads = {k: AESGCM(v) for k, v in keyring.master_keys.items()}


class FileKeyProvider(KeyringProvider):
    """The local provider: a keyring file of mode 0600 created by ``privguard init``.

    Running servers follow the file: when ``privguard keys rotate`` (another process) adds a
    master key, the next wrap uses it and the next unwrap under it finds it, without a restart.
    The check is one ``stat`` per wrap or unknown key id, not per read.
    """

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._file_stamp()
        super().__init__(read_keyring_file(path))

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> None:
        stamp = self._file_stamp()
        if stamp is not None and stamp != self._stamp:
            self._replace_keyring(read_keyring_file(self.path))
            self._stamp = stamp

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        self._refresh()
        return super().wrap(data_key, context)

    def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        if key_id not in self._aeads:
            self._refresh()
        return super().unwrap(key_id, wrapped, context)

    def active_key_id(self) -> str:
        self._refresh()
        return super().active_key_id()

    def add_master_key(self, now: datetime) -> str:
        self._refresh()
        updated = self._keyring.with_new_master_key(now)
        write_keyring_file(self.path, updated)
        self._replace_keyring(updated)
        self._stamp = self._file_stamp()
        return updated.active

    def retire(self, key_id: str) -> None:
        self._refresh()
        updated = self._keyring.without(key_id)
        write_keyring_file(self.path, updated)
        self._replace_keyring(updated)
        self._stamp = self._file_stamp()


class EnvKeyProvider(KeyringProvider):
    """The keyring JSON passed in ``PRIVGUARD_KEYRING`` (e.g. from a secrets manager).

    Read-only: to rotate, the operator writes the keyring to a file, runs ``privguard keys rotate``
    with the file provider, and stores the new JSON back in the secret manager (docs/keys.md).
    """

    name = "env"

    def __init__(self, keyring_json: str | None) -> None:
        if not keyring_json:
            raise KeyringError("PRIVGUARD_KEYRING is empty; the env key provider needs the keyring")
        super().__init__(Keyring.from_json(keyring_json))


ProviderFactory = Callable[..., KeyProvider]
ENTRY_POINT_GROUP = "privguard.key_providers"
_PROVIDERS: Registry[ProviderFactory] = Registry(
    ENTRY_POINT_GROUP, "PRIVGUARD_KEY_PROVIDER", "key provider", KeyringError
)


def register_provider(name: str, factory: ProviderFactory) -> None:
    """Plug in a provider (HSM, KMS, Vault transit) under a PRIVGUARD_KEY_PROVIDER name."""
    _PROVIDERS.register(name, factory)


def provider_factory(name: str) -> ProviderFactory:
    """A registered provider, or one a package declares under the ``privguard.key_providers``
    entry-point group (so every worker process finds it without code changes)."""
    return _PROVIDERS.factory(name)


register_provider("file", lambda *, key_file, **_: FileKeyProvider(key_file))
register_provider("env", lambda *, keyring, **_: EnvKeyProvider(keyring))
