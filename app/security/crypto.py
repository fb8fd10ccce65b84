"""Transcript encryption at rest (the `ContentCipher` of `app.memory.store`), with key rotation.

ENCRYPTION_KEY holds one or more comma-separated Fernet keys, newest first: the first encrypts,
every key decrypts (`MultiFernet`), so rotation is "prepend the new key, re-encrypt, drop the old".
Stored values carry the prefix `fernet:` so rows written before encryption was switched on read
back as they are, and a value that is marked but cannot be decrypted is an error, never returned
as if it were plain text.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import Settings

PREFIX = "fernet:"


class ContentDecryptionError(Exception):
    """Stored content is encrypted under none of the configured keys."""


class FernetCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("FernetCipher needs at least one key")
        fernets = [Fernet(k) for k in keys]
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str) -> FernetCipher:
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def encrypt(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption was enabled
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ContentDecryptionError(
                "stored content cannot be decrypted with any ENCRYPTION_KEY (was a key dropped too early?)"
            ) from None

    def is_current(self, stored: str) -> bool:
        """Whether `stored` is already encrypted under the newest key.

        A Fernet token does not name its key, and `rotate` always produces a new token, so this is
        how a re-encryption skips rows that are done: one decryption with the newest key alone (a
        token under another key fails at its HMAC check, before any decryption).
        """
        if not stored.startswith(PREFIX):
            return False
        try:
            self._newest.decrypt(stored[len(PREFIX) :].encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, stored: str) -> str:
        """Re-encrypt under the newest key (plain legacy values get encrypted).

        Raises `ContentDecryptionError` when no configured key decrypts `stored`.
        """
        if not stored.startswith(PREFIX):
            return self.encrypt(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ContentDecryptionError(
                "stored content cannot be decrypted with any ENCRYPTION_KEY (was a key dropped too early?)"
            ) from None


def cipher_from_settings(settings: Settings) -> FernetCipher | None:
    """The cipher for the memory store, or None when ENCRYPTION_KEY is not set (development)."""
    if settings.encryption_key is None:
        return None
    return FernetCipher.from_setting(settings.encryption_key.get_secret_value())
