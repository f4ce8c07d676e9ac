"""Typed dependencies, so that route signatures read like the contract."""

import datetime
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from db_postgres_service.api.idempotency import IDEMPOTENCY_KEY_PATTERN, Idempotency
from db_postgres_service.core.config import Settings
from db_postgres_service.core.database import unit_of_work
from db_postgres_service.core.security import PasswordHasher
from db_postgres_service.core.signing import Signer
from db_postgres_service.repositories.secret_repository import SIGNING_KEY, SecretRepository


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed when the handler returns, rolled back otherwise."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


# Every dependency is `async def`: FastAPI runs a plain `def` in a worker thread, a thread
# round trip per dependency per request.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


# scope="function" commits before the response is sent, so a failed commit is still reported.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PasswordHasherDep = Annotated[PasswordHasher, Depends(get_password_hasher)]


async def shared_signer(state: State) -> Signer:
    """The signing key all instances share, read from the database once per process."""
    signer: Signer | None = getattr(state, "signer", None)
    if signer is None:
        async with unit_of_work(state.sessionmaker) as session:
            signer = Signer(await SecretRepository(session).get(SIGNING_KEY))
        state.signer = signer
    return signer


async def get_signer(request: Request) -> Signer:
    return await shared_signer(request.app.state)


SignerDep = Annotated[Signer, Depends(get_signer)]


async def get_idempotency(
    request: Request,
    session: SessionDep,
    signer: SignerDep,
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
        session,
        signer,
        key=idempotency_key,
        client=request.state.client,
        ttl=datetime.timedelta(seconds=settings.idempotency_ttl_seconds),
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
