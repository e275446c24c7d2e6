"""Cryptography for the vault. Only this package imports hazmat primitives.

The rest of privguard sees: :func:`envelope.seal` / :func:`envelope.open_sealed` for field values,
:class:`providers.KeyProvider` for wrapping data keys, :class:`blind_index.BlindIndexer` for exact
lookup, and one opaque error, :class:`errors.DecryptionError`.
"""
