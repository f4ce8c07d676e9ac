"""Password hashing with argon2id (bcrypt accepted for imports), off the event loop."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher


class PasswordHasher:
    """Hashes and verifies in a dedicated thread pool.

    argon2 and bcrypt release the GIL while they work, so a small pool hashes in parallel
    without stalling the requests the event loop is serving meanwhile.
    """

    def __init__(self, threads: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(), BcryptHasher()))
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="password")

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

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
