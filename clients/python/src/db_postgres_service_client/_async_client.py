"""`AsyncClient`: `Client` on httpx.AsyncClient, its methods awaited."""

import asyncio
from types import TracebackType
from typing import Self, TypeVar

import httpx

from db_postgres_service_client._async_resources import (
    AsyncEvents,
    AsyncMemberships,
    AsyncOrganizations,
    AsyncUsers,
)
from db_postgres_service_client._calls import Call
from db_postgres_service_client._config import base_url_and_key
from db_postgres_service_client._retries import (
    delay_after,
    error_of,
    retried_error,
    retried_response,
)

T = TypeVar("T")


class AsyncClient:
    """The service's API: `users`, `organizations`, `memberships` and `events`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url, api_key = base_url_and_key(base_url, api_key)
        self.timeout = timeout
        self.max_retries = max_retries
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._authorization = f"Bearer {api_key}"
        self.users = AsyncUsers(self)
        self.organizations = AsyncOrganizations(self)
        self.memberships = AsyncMemberships(self)
        self.events = AsyncEvents(self)

    async def send(self, call: Call[T]) -> T:
        """Sends `call`, again after a retried failure, and returns what its answer parses to."""
        url = self.base_url + call.path
        headers = {"Authorization": self._authorization, **call.headers}
        timeout = self.timeout + call.extra_timeout
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    call.method,
                    url,
                    params=call.params,
                    json=call.body,
                    headers=headers,
                    timeout=timeout,
                )
            except httpx.TransportError as error:
                if attempt >= self.max_retries or not retried_error(call, error):
                    raise
            else:
                if response.status_code < 400:
                    return call.parse(response)
                if attempt >= self.max_retries or not retried_response(call, response):
                    raise error_of(response)
            await asyncio.sleep(delay_after(response, attempt))
            attempt += 1

    async def close(self) -> None:
        """Closes the connections, unless the httpx client was the caller's."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
