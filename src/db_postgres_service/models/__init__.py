from db_postgres_service.models.api_client import ApiClient, ClientLimit
from db_postgres_service.models.base import Base
from db_postgres_service.models.event import Event, EventHorizon, RelayPosition
from db_postgres_service.models.idempotency_key import IdempotencyKey
from db_postgres_service.models.service_secret import ServiceSecret

__all__ = [
    "ApiClient",
    "Base",
    "ClientLimit",
    "Event",
    "EventHorizon",
    "IdempotencyKey",
    "RelayPosition",
    "ServiceSecret",
]
