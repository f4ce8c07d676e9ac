"""What one call of the client is on the wire, apart from who sends it: the method, the path,
the headers and body, whether a retry is safe, and how the answer becomes a model.

The sync and the async client both send these, so that both have the same surface and the
HTTP details are written once.
"""

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from db_postgres_service_client.models import Page, Resource

T = TypeVar("T")
M = TypeVar("M", bound=Resource)
API_PREFIX = "/api/v1"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of the service: its method and its path under /api/v1, `{}` for each
    path parameter (what `tests/client/test_drift.py` matches against /openapi.json)."""

    method: str
    template: str

    def path(self, *parameters: object) -> str:
        return API_PREFIX + self.template.format(
            *(quote(str(value), safe="") for value in parameters)
        )


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request to send (again, on a retry: the same request, Idempotency-Key included)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # PATCH, PUT and DELETE are safe to send twice only when a condition makes the second a
    # no-op (If-Match, If-None-Match: *); a create only with its Idempotency-Key.
    retry_safe: bool = True
    # Added to the client's timeout: a long poll is held by the server on purpose.
    extra_timeout: float = 0.0


def headers(request_id: str | None, **named: str | None) -> dict[str, str]:
    """HTTP headers from keyword names (`if_match` → `If-Match`), the unset ones left out."""
    sent = {name.replace("_", "-").title(): value for name, value in named.items() if value}
    if request_id is not None:
        sent["X-Request-ID"] = request_id
    return sent


def query(**params: Any) -> dict[str, Any]:
    """Query parameters, the unset ones left out and timestamps in RFC 3339."""
    return {
        name: value.isoformat() if isinstance(value, datetime.datetime) else value
        for name, value in params.items()
        if value is not None
    }


def parser(model: type[T]) -> Callable[[httpx.Response], T]:
    validate = getattr(model, "model_validate_json")  # noqa: B009 - also for generic Page[...]

    def parse(response: httpx.Response) -> T:
        parsed: T = validate(response.content)
        return parsed

    return parse


def optional_parser(model: type[T]) -> Callable[[httpx.Response], T | None]:
    """A 304 (If-None-Match matched) is None: the caller's copy is current."""
    parse = parser(model)

    def parse_or_none(response: httpx.Response) -> T | None:
        return None if response.status_code == 304 else parse(response)

    return parse_or_none


def nothing(response: httpx.Response) -> None:
    return None


def body_of(item: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json", exclude_none=True)
    return dict(item)


def identity(target: object, model: type[Resource]) -> int:
    """The id of a resource given as itself or as its id."""
    if isinstance(target, model):
        # Resource itself declares no id: a membership is named by its two parents.
        value: int = getattr(target, "id")  # noqa: B009
        return value
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    raise TypeError(f"expected a {model.__name__} or its id, got {target!r}")


def condition(target: object, if_match: str | None) -> str | None:
    """If-Match for a write: the caller's, else the etag of the resource passed in."""
    if if_match is not None:
        return if_match
    return target.etag if isinstance(target, Resource) else None


class _Items(BaseModel, Generic[M]):
    items: list[M]


class StandardCalls(Generic[M]):
    """The calls every standard resource of the contract answers (CONTRACT.md, "Every
    resource"), for the resource at `/<name>` whose rows are `model`, with a unique lookup
    `by_<field>` per name in `lookups`, and `more` operations of its own, by method name."""

    def __init__(
        self,
        name: str,
        model: type[M],
        *,
        lookups: Iterable[str] = (),
        more: Mapping[str, Endpoint] | None = None,
    ) -> None:
        self.model = model
        self.endpoints: dict[str, Endpoint] = {
            "create": Endpoint("POST", f"/{name}"),
            "list_page": Endpoint("GET", f"/{name}"),
            "get": Endpoint("GET", f"/{name}/{{}}"),
            "update": Endpoint("PATCH", f"/{name}/{{}}"),
            "delete": Endpoint("DELETE", f"/{name}/{{}}"),
            **{f"get_by_{field}": Endpoint("GET", f"/{name}/by_{field}/{{}}") for field in lookups},
            **(more or {}),
        }
        self._one = parser(model)
        self._maybe_one = optional_parser(model)
        self._page = parser(Page[model])  # type: ignore[valid-type]
        self._items = parser(_Items[model])  # type: ignore[valid-type]

    def create(
        self, name: str, body: Any, idempotency_key: str | None, request_id: str | None
    ) -> Call[M]:
        """A POST that creates: always with an Idempotency-Key, made here once per call unless
        the caller gave one, so that its retries can never create twice."""
        key = idempotency_key or str(uuid.uuid4())
        return Call(
            "POST",
            self.endpoints[name].path(),
            self._one,
            body=body,
            headers=headers(request_id, idempotency_key=key),
        )

    def create_many(
        self, name: str, body: Any, idempotency_key: str | None, request_id: str | None
    ) -> Call[list[M]]:
        key = idempotency_key or str(uuid.uuid4())
        return Call(
            "POST",
            self.endpoints[name].path(),
            lambda response: self._items(response).items,
            body=body,
            headers=headers(request_id, idempotency_key=key),
        )

    def get(
        self, target: int | M, if_none_match: str | None, request_id: str | None
    ) -> Call[M | None]:
        return Call(
            "GET",
            self.endpoints["get"].path(identity(target, self.model)),
            self._maybe_one,
            headers=headers(request_id, if_none_match=if_none_match),
        )

    def get_by(self, field: str, value: str, request_id: str | None) -> Call[M]:
        return Call(
            "GET",
            self.endpoints[f"get_by_{field}"].path(value),
            self._one,
            headers=headers(request_id),
        )

    def read(self, name: str, body: Any, request_id: str | None) -> Call[M]:
        """A POST that only reads (a login check): safe to send again."""
        return Call(
            "POST", self.endpoints[name].path(), self._one, body=body, headers=headers(request_id)
        )

    def list_page(
        self,
        cursor: str | None,
        order: str | None,
        limit: int | None,
        filters: Mapping[str, Any],
        request_id: str | None,
    ) -> Call[Page[M]]:
        return Call(
            "GET",
            self.endpoints["list_page"].path(),
            self._page,
            params=query(cursor=cursor, order=order, limit=limit, **filters),
            headers=headers(request_id),
        )

    def update(
        self,
        target: int | M,
        if_match: str | None,
        changes: Mapping[str, Any],
        request_id: str | None,
    ) -> Call[M]:
        sent_if_match = condition(target, if_match)
        return Call(
            "PATCH",
            self.endpoints["update"].path(identity(target, self.model)),
            self._one,
            body=dict(changes),
            headers=headers(request_id, if_match=sent_if_match),
            retry_safe=sent_if_match is not None,
        )

    def delete(self, target: int | M, if_match: str | None, request_id: str | None) -> Call[None]:
        sent_if_match = condition(target, if_match)
        return Call(
            "DELETE",
            self.endpoints["delete"].path(identity(target, self.model)),
            nothing,
            headers=headers(request_id, if_match=sent_if_match),
            retry_safe=sent_if_match is not None,
        )
