"""The Python client of db-postgres-service (CLIENT.md): `Client` and `AsyncClient`, typed
models, safe retries and one exception class per problem type."""

from db_postgres_service_client._async_client import AsyncClient
from db_postgres_service_client._async_resources import AsyncFollow
from db_postgres_service_client._sync_client import Client
from db_postgres_service_client._sync_resources import Follow
from db_postgres_service_client.errors import (
    Conflict,
    DpsError,
    Forbidden,
    Gone,
    IdempotencyKeyInFlight,
    InternalError,
    InvalidLogin,
    MalformedPrecondition,
    MalformedRequest,
    MethodNotAllowed,
    NotFound,
    OwnerRequired,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    RateLimited,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from db_postgres_service_client.models import Event, Membership, Organization, Page, Role, User

__all__ = [
    "AsyncClient",
    "AsyncFollow",
    "Client",
    "Conflict",
    "DpsError",
    "Event",
    "Follow",
    "Forbidden",
    "Gone",
    "IdempotencyKeyInFlight",
    "InternalError",
    "InvalidLogin",
    "MalformedPrecondition",
    "MalformedRequest",
    "Membership",
    "MethodNotAllowed",
    "NotFound",
    "Organization",
    "OwnerRequired",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "RateLimited",
    "Role",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "User",
    "ValidationFailed",
]
