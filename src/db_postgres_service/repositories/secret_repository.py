from db_postgres_service.core.database import DriverConnection

SIGNING_KEY = "signing_key"
_GET = "SELECT value FROM service_secrets WHERE name = $1"


class SecretRepository:
    def __init__(self, connection: DriverConnection) -> None:
        self.connection = connection

    async def get(self, name: str) -> bytes:
        value: bytes | None = await self.connection.fetchval(_GET, name)
        if value is None:
            raise LookupError(f"service secret {name!r} is missing; run the migrations")
        return value
