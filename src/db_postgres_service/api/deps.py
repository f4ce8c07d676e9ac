"""Typed dependencies, so that route signatures read like the contract."""

import datetime
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.datastructures import State

from db_postgres_service.api.idempotency import IDEMPOTENCY_KEY_PATTERN, Idempotency
from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import StatementConnection
from db_postgres_service.core.security import PasswordHasher
from db_postgres_service.core.signing import Signer
from db_postgres_service.repositories.secret_repository import SIGNING_KEY, SecretRepository


async def get_transaction(request: Request) -> AsyncIterator[StatementConnection]:
    """The request's one transaction: committed when the handler returns, rolled back otherwise."""
    async with request.app.state.statement_pool.transaction() as connection:
        yield connection


# Every dependency is `async def`: FastAPI runs a plain `def` in a worker thread, a thread
# round trip per dependency per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


# scope="function" commits before the response is sent, so a failed commit is still reported.
TransactionDep = Annotated[StatementConnection, Depends(get_transaction, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]


async def shared_signer(state: State) -> Signer:
    """The signing key all instances share, read from the database once per process."""
    signer: Signer | None = getattr(state, "signer", None)
    if signer is None:
        async with state.statement_pool.connection() as connection:
            signer = Signer(await SecretRepository(connection).get(SIGNING_KEY))
        state.signer = signer
    return signer


async def get_signer(request: Request) -> Signer:
    return await shared_signer(request.app.state)


SignerDep = Annotated[Signer, Depends(get_signer)]


async def get_idempotency(
    request: Request,
    # Before the transaction: the first request of a process reads the key on a connection
    # of its own, and must not hold one while it waits for another.
    signer: SignerDep,
    transaction: TransactionDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Makes a retry of this POST safe: 1-255 printable ASCII characters.",
        ),
    ] = None,
) -> Idempotency:
    return Idempotency(
        request,
        transaction,
        signer,
        key=idempotency_key,
        client=request.state.client,
        ttl=datetime.timedelta(seconds=settings.idempotency_ttl_seconds),
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
