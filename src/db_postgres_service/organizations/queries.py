"""The memberships' reads."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import State

from db_postgres_service.api.pages import keyset_page
from db_postgres_service.api.responses import Rendered
from db_postgres_service.core.database import BIGINT_MAX
from db_postgres_service.core.keyset import ListShape
from db_postgres_service.organizations.models import Role
from db_postgres_service.organizations.repository import (
    MembershipRepository,
    no_organization,
    no_user,
)
from db_postgres_service.organizations.representation import page_json, rendered
from db_postgres_service.organizations.sql import (
    MEMBERS_LIST,
    USER_MEMBERSHIPS_LIST,
    MembershipRecord,
)


@dataclass(frozen=True, slots=True)
class MembershipFilters:
    """A list of memberships: whose (an organization's members, or a user's organizations)
    and of which role. The owner is part of what a cursor is bound to."""

    of: int
    role: Role | None = None


async def membership(state: State, organization_id: int, user_id: int) -> Rendered:
    async with state.statement_pool.connection() as db:
        return rendered(await MembershipRepository(db).membership(organization_id, user_id))


async def members_page(
    state: State, *, order: str, filters: MembershipFilters, cursor: str | None, limit: int
) -> bytes:
    """A page of an organization's memberships; 404 when the organization does not exist."""
    return await _memberships_page(
        state, MEMBERS_LIST, _organization_exists, order, filters, cursor, limit
    )


async def user_memberships_page(
    state: State, *, order: str, filters: MembershipFilters, cursor: str | None, limit: int
) -> bytes:
    """A page of a user's memberships; 404 when the user does not exist."""
    return await _memberships_page(
        state, USER_MEMBERSHIPS_LIST, _user_exists, order, filters, cursor, limit
    )


async def _memberships_page(
    state: State,
    shape: ListShape,
    require: Callable[[MembershipRepository, int], Awaitable[None]],
    order: str,
    filters: MembershipFilters,
    cursor: str | None,
    limit: int,
) -> bytes:
    if not 1 <= filters.of <= BIGINT_MAX:
        await _require(state, require, filters.of)
    values: dict[str, object] = {"scope": filters.of}
    if filters.role is not None:
        values["role"] = filters.role.value
    rows, next_cursor = await keyset_page(
        state, shape, order=order, filters=filters, values=values, cursor=cursor, limit=limit
    )
    if not rows:
        # An empty page may be an unknown organization or user: only then is it worth asking.
        await _require(state, require, filters.of)
    return page_json([MembershipRecord(*row) for row in rows], next_cursor)


async def _require(
    state: State, require: Callable[[MembershipRepository, int], Awaitable[None]], owner: int
) -> None:
    async with state.statement_pool.connection() as db:
        await require(MembershipRepository(db), owner)


async def _organization_exists(repository: MembershipRepository, organization_id: int) -> None:
    if not await repository.exists(organization_id):
        raise no_organization(organization_id)


async def _user_exists(repository: MembershipRepository, user_id: int) -> None:
    if not await repository.user_exists(user_id):
        raise no_user(user_id)
