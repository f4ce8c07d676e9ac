"""Keyed signatures and fingerprints from the one signing key shared by all instances."""

import hashlib
import hmac


class Signer:
    """Derives one subkey per purpose, so a cursor signature can never pass as a fingerprint."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _subkey(self, purpose: str) -> bytes:
        return hmac.digest(self._key, purpose.encode(), hashlib.sha256)

    def sign(self, purpose: str, payload: bytes) -> bytes:
        return hmac.digest(self._subkey(purpose), payload, hashlib.sha256)
