"""The resources of `AsyncClient`: those of `_sync_resources.py`, awaited."""

import asyncio
import builtins
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar, overload

from pydantic import BaseModel

from db_postgres_service_client import _event_calls, _membership_calls
from db_postgres_service_client._calls import Call, Endpoint, StandardCalls, body_of, identity
from db_postgres_service_client._conflicts import MAX_CONFLICT_RETRIES, conflict_delay
from db_postgres_service_client._resources import ORGANIZATIONS, USERS
from db_postgres_service_client._retries import RETRIED_ERRORS, RETRIED_STATUSES, backoff
from db_postgres_service_client.errors import DpsError, PreconditionFailed
from db_postgres_service_client.models import (
    Event,
    Membership,
    Organization,
    Page,
    Resource,
    Role,
    User,
)

T = TypeVar("T")
M = TypeVar("M", bound=Resource)


class Sender(Protocol):
    async def send(self, call: Call[T]) -> T: ...


class AsyncStandardResource(Generic[M]):
    """What every standard resource of the contract offers: get, pages, update, modify,
    delete; a resource adds its typed `create` and its lookups."""

    calls: StandardCalls[M]

    def __init__(self, client: Sender) -> None:
        self._client = client

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """The operations this resource calls, by the name of the method that calls each."""
        return self.calls.endpoints

    @overload
    async def get(
        self, id: int | M, *, if_none_match: None = None, request_id: str | None = None
    ) -> M: ...
    @overload
    async def get(
        self, id: int | M, *, if_none_match: str, request_id: str | None = None
    ) -> M | None: ...
    async def get(
        self, id: int | M, *, if_none_match: str | None = None, request_id: str | None = None
    ) -> M | None:
        """The row; None when `if_none_match` names its current etag (304)."""
        return await self._client.send(self.calls.get(id, if_none_match, request_id))

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        order: str | None = None,
        limit: int | None = None,
        request_id: str | None = None,
        **filters: Any,
    ) -> Page[M]:
        """One page; pass its `next_cursor` back with the same order and filters."""
        return await self._client.send(
            self.calls.list_page(cursor, order, limit, filters, request_id)
        )

    async def update(
        self,
        target: int | M,
        *,
        if_match: str | None = None,
        request_id: str | None = None,
        **changes: Any,
    ) -> M:
        """PATCH; a model passed in sends its etag as If-Match unless `if_match` is given."""
        return await self._client.send(self.calls.update(target, if_match, changes, request_id))

    async def modify(
        self,
        target: int | M,
        change: Callable[[M], Mapping[str, Any]],
        *,
        max_conflict_retries: int = MAX_CONFLICT_RETRIES,
        request_id: str | None = None,
    ) -> M:
        """Reads the row, PATCHes what `change` returns for it with If-Match; when another
        writer was faster (412), reads again and repeats, at most `max_conflict_retries` times."""
        row_id = identity(target, self.calls.model)
        attempt = 0
        while True:
            current = await self.get(row_id, request_id=request_id)
            changes = change(current)
            if not changes:
                return current
            try:
                return await self._client.send(
                    self.calls.update(current, None, changes, request_id)
                )
            except PreconditionFailed:
                if attempt >= max_conflict_retries:
                    raise
            await asyncio.sleep(conflict_delay(attempt))
            attempt += 1

    async def delete(
        self, target: int | M, *, if_match: str | None = None, request_id: str | None = None
    ) -> None:
        """DELETE; a model passed in sends its etag as If-Match unless `if_match` is given."""
        await self._client.send(self.calls.delete(target, if_match, request_id))

    async def list(
        self,
        *,
        order: str | None = None,
        limit: int | None = None,
        request_id: str | None = None,
        **filters: Any,
    ) -> AsyncIterator[M]:
        """Every row of every page, one page at a time."""
        cursor = None
        while True:
            page = await self.list_page(
                cursor=cursor, order=order, limit=limit, request_id=request_id, **filters
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class AsyncUsers(AsyncStandardResource[User]):
    calls = USERS

    async def create(
        self,
        *,
        email: str,
        username: str,
        password: str | None = None,
        password_hash: str | None = None,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> User:
        """A new user, with a password or an existing hash; retried under one
        Idempotency-Key, so it is created once."""
        fields = {
            "email": email,
            "username": username,
            "password": password,
            "password_hash": password_hash,
        }
        body = {name: value for name, value in fields.items() if value is not None}
        return await self._client.send(
            self.calls.create("create", body, idempotency_key, request_id)
        )

    async def create_many(
        self,
        items: Iterable[Mapping[str, Any] | BaseModel],
        *,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> builtins.list[User]:
        """Up to 1000 users at once, all or nothing, in the order given."""
        body = {"items": [body_of(item) for item in items]}
        call = self.calls.create_many("create_many", body, idempotency_key, request_id)
        return await self._client.send(call)

    async def get_by_username(self, username: str, *, request_id: str | None = None) -> User:
        return await self._client.send(self.calls.get_by("username", username, request_id))

    async def get_by_email(self, email: str, *, request_id: str | None = None) -> User:
        return await self._client.send(self.calls.get_by("email", email, request_id))

    async def authenticate(
        self, login: str, password: str, *, request_id: str | None = None
    ) -> User:
        """The user whose username or email is `login`, if `password` is theirs; otherwise
        InvalidLogin."""
        body = {"login": login, "password": password}
        return await self._client.send(self.calls.read("authenticate", body, request_id))


class AsyncOrganizations(AsyncStandardResource[Organization]):
    calls = ORGANIZATIONS

    async def create(
        self,
        *,
        slug: str,
        name: str,
        idempotency_key: str | None = None,
        request_id: str | None = None,
    ) -> Organization:
        body = {"slug": slug, "name": name}
        return await self._client.send(
            self.calls.create("create", body, idempotency_key, request_id)
        )

    async def get_by_slug(self, slug: str, *, request_id: str | None = None) -> Organization:
        return await self._client.send(self.calls.get_by("slug", slug, request_id))


class AsyncMemberships:
    """Users in organizations; either is given as itself or as its id."""

    endpoints = _membership_calls.ENDPOINTS

    def __init__(self, client: Sender) -> None:
        self._client = client

    async def put(
        self,
        organization: Organization | int,
        user: User | int,
        *,
        role: Role,
        if_match: str | None = None,
        create_only: bool = False,
        request_id: str | None = None,
    ) -> Membership:
        """Adds the user with `role`, or changes their role; `create_only` refuses (412) a
        membership that exists."""
        call = _membership_calls.put(organization, user, role, if_match, create_only, request_id)
        return await self._client.send(call)

    async def get(
        self, organization: Organization | int, user: User | int, *, request_id: str | None = None
    ) -> Membership:
        return await self._client.send(_membership_calls.get(organization, user, request_id))

    async def delete(
        self,
        organization: Organization | int,
        user: User | int,
        *,
        if_match: str | None = None,
        request_id: str | None = None,
    ) -> None:
        await self._client.send(_membership_calls.delete(organization, user, if_match, request_id))

    def list(
        self,
        organization: Organization | int,
        *,
        role: Role | None = None,
        order: str | None = None,
        request_id: str | None = None,
    ) -> AsyncIterator[Membership]:
        """Every member of the organization."""
        return self._every("list", organization, role, order, request_id)

    def of_user(
        self,
        user: User | int,
        *,
        role: Role | None = None,
        order: str | None = None,
        request_id: str | None = None,
    ) -> AsyncIterator[Membership]:
        """Every membership of the user."""
        return self._every("of_user", user, role, order, request_id)

    async def _every(
        self,
        endpoint: str,
        parent: Organization | User | int,
        role: Role | None,
        order: str | None,
        request_id: str | None,
    ) -> AsyncIterator[Membership]:
        cursor = None
        while True:
            call = _membership_calls.page(endpoint, parent, cursor, role, order, request_id)
            page = await self._client.send(call)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


class AsyncEvents:
    """The change feed: every committed change, once, in commit order per subject."""

    endpoints = _event_calls.ENDPOINTS

    def __init__(self, client: Sender) -> None:
        self._client = client

    async def list_page(
        self,
        *,
        after: str | None = None,
        limit: int | None = None,
        types: Iterable[str] | None = None,
        wait: float | None = None,
        request_id: str | None = None,
    ) -> Page[Event]:
        """The events after `after` (from the oldest kept without it); with `wait`, held up to
        that many seconds until one arrives."""
        return await self._client.send(
            _event_calls.list_page(after, limit, types, wait, request_id)
        )

    def follow(
        self,
        *,
        after: str | None = None,
        types: Iterable[str] | None = None,
        wait: float = _event_calls.MAX_WAIT_SECONDS,
        request_id: str | None = None,
    ) -> "AsyncFollow":
        """Every event after `after`, for ever: long-polls when caught up and rides out an
        unavailable service. Its `cursor` (or the last event's) is where to resume."""
        return AsyncFollow(self, after, None if types is None else tuple(types), wait, request_id)


class AsyncFollow(AsyncIterator[Event]):
    """The iterator `Events.follow` returns; `cursor` is the position after the last event it
    yielded (or the newest position it was told about)."""

    def __init__(
        self,
        events: AsyncEvents,
        after: str | None,
        types: tuple[str, ...] | None,
        wait: float,
        request_id: str | None,
    ) -> None:
        self.cursor = after
        self._events = events
        self._types = types
        self._wait = wait
        self._request_id = request_id
        self._next_cursor = after
        self._waiting: deque[Event] = deque()

    def __aiter__(self) -> "AsyncFollow":
        return self

    async def __anext__(self) -> Event:
        while not self._waiting:
            self.cursor = self._next_cursor
            page = await self._page()
            self._waiting.extend(page.items)
            self._next_cursor = page.next_cursor
        event = self._waiting.popleft()
        self.cursor = event.cursor
        return event

    async def _page(self) -> Page[Event]:
        failures = 0
        while True:
            try:
                return await self._events.list_page(
                    after=self.cursor,
                    types=self._types,
                    wait=self._wait,
                    request_id=self._request_id,
                )
            except DpsError as error:
                if error.status not in RETRIED_STATUSES:
                    raise
            except RETRIED_ERRORS:
                pass
            await asyncio.sleep(backoff(failures))
            failures += 1
