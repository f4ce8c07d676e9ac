"""Password hashing with argon2id (bcrypt accepted for imports), off the event loop."""

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

BCRYPT_MAX_PASSWORD_BYTES = 72


class ImportedBcryptHasher(BcryptHasher):
    """Verifies imported bcrypt hashes the way the systems that made them did.

    bcrypt only ever used the first 72 bytes of a password; bcrypt >= 5 refuses longer ones
    instead, which would turn a long password into a server error rather than a verdict.
    """

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        raw = password.encode() if isinstance(password, str) else password
        return super().verify(raw[:BCRYPT_MAX_PASSWORD_BYTES], hash)


class PasswordHasher:
    """Hashes and verifies in a dedicated thread pool.

    argon2 and bcrypt release the GIL while they work, so a small pool hashes in parallel
    without stalling the requests the event loop is serving meanwhile.
    """

    def __init__(self, threads: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(), ImportedBcryptHasher()))
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password")
        # Verified against when a login is unknown, so that it costs what a wrong password costs.
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(32))

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._hash.hash, password)

    async def hash_many(self, passwords: list[str]) -> list[str]:
        return list(await asyncio.gather(*(self.hash(password) for password in passwords)))

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """Whether `password` matches, and a fresh argon2id hash when `hashed` is outdated."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._hash.verify_and_update, password, hashed
        )

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification, for a login that matched no user."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._hash.verify, password, self._dummy_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
