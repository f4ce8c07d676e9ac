"""Liveness and readiness probes."""

import asyncio

from fastapi import APIRouter, Request
from pydantic import BaseModel

from db_postgres_service.api.problems import problem_responses
from db_postgres_service.api.scopes import PUBLIC
from db_postgres_service.core.db_errors import DATABASE_FAILURES
from db_postgres_service.core.errors import ServiceUnavailable
from db_postgres_service.repositories.health_repository import HealthRepository

router = APIRouter(tags=["operations"])
READINESS_TIMEOUT_SECONDS = 1.0


class Status(BaseModel):
    status: str


@router.get(
    "/health",
    response_model=Status,
    summary="Liveness: the process is up",
    openapi_extra=PUBLIC,
)
async def health() -> Status:
    return Status(status="ok")


@router.get(
    "/health/ready",
    response_model=Status,
    responses=problem_responses(503),
    summary="Readiness: the database answers and the schema is at the latest migration",
    openapi_extra=PUBLIC,
)
async def ready(request: Request) -> Status:
    expected: str = request.app.state.schema_head
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            # A connection of its own: a probe must not wait behind requests for one.
            async with request.app.state.probe_pool.acquire() as connection:
                revision = await HealthRepository(connection).schema_revision()
    except DATABASE_FAILURES:
        raise ServiceUnavailable(
            f"The database did not answer within {READINESS_TIMEOUT_SECONDS:g} s."
        ) from None
    if revision != expected:
        raise ServiceUnavailable(
            f"The schema is at revision {revision or 'none'}, expected {expected}; "
            "run `db-postgres-service migrate`."
        )
    return Status(status="ok")
