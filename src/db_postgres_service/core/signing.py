"""Keyed signatures and fingerprints from the one signing key shared by all instances."""

import hmac


class Signer:
    """Derives one subkey per purpose, so a cursor signature can never pass as a fingerprint."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        # A handful of fixed purposes; deriving each once halves the HMACs of a signature.
        self._subkeys: dict[str, bytes] = {}

    def _subkey(self, purpose: str) -> bytes:
        subkey = self._subkeys.get(purpose)
        if subkey is None:
            subkey = self._subkeys[purpose] = hmac.digest(self._key, purpose.encode(), "sha256")
        return subkey

    def sign(self, purpose: str, payload: bytes) -> bytes:
        return hmac.digest(self._subkey(purpose), payload, "sha256")
