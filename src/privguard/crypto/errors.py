"""The crypto package's errors. Deliberately opaque: a caller (or attacker) learns only that
decryption failed, not whether the tag, the associated data or the key was wrong."""


class DecryptionError(Exception):
    """A ciphertext could not be decrypted: altered, moved to another record, or its key is gone."""

    def __init__(self) -> None:
        super().__init__(
            "could not decrypt: the value was altered, belongs to another record, "
            "or its key no longer exists"
        )


class KeyringError(Exception):
    """The master keyring is missing, unreadable, malformed or does not match the data."""
