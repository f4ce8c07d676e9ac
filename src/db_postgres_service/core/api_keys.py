"""API keys: what they look like and how they are stored. Which scopes exist, the routes
declare (api/scopes.py)."""

import hashlib
import secrets
from dataclasses import dataclass

# A recognisable prefix lets secret scanners find a leaked key.
KEY_PREFIX = "dps_"
_SHOWN_PREFIX_LENGTH = 12


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    prefix: str
    digest: bytes


def key_digest(key: str) -> bytes:
    """SHA-256 suits a key of 256 random bits: nothing to brute-force, so no salt or KDF."""
    return hashlib.sha256(key.encode()).digest()


def new_key() -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(key=key, prefix=key[:_SHOWN_PREFIX_LENGTH], digest=key_digest(key))
