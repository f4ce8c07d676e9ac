"""The calls of the change feed."""

from collections.abc import Iterable

from db_postgres_service_client._calls import Call, Endpoint, headers, parser, query
from db_postgres_service_client.models import Event, Page

ENDPOINTS = {"list_page": Endpoint("GET", "/events")}
# The longest the service holds a long poll (CONTRACT.md: `wait` 0-30 s).
MAX_WAIT_SECONDS = 30.0
_page = parser(Page[Event])


def list_page(
    after: str | None,
    limit: int | None,
    types: Iterable[str] | None,
    wait: float | None,
    request_id: str | None,
) -> Call[Page[Event]]:
    return Call(
        "GET",
        ENDPOINTS["list_page"].path(),
        _page,
        params=query(
            after=after,
            limit=limit,
            types=None if types is None else ",".join(types),
            wait=wait,
        ),
        headers=headers(request_id),
        extra_timeout=wait or 0.0,
    )
