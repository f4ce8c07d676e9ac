"""The organization and membership routes of CONTRACT.md: HTTP in and out, no SQL."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response, status
from pydantic import MISSING
from starlette.datastructures import State

from db_postgres_service.api.conditional import (
    expected_versions,
    is_create_only,
    unwanted_versions,
)
from db_postgres_service.api.declarations import (
    CONDITIONAL_GET,
    ETAG,
    IN_FLIGHT,
    PRECONDITION_SCHEMA,
    IfMatch,
    idempotent_post,
    location,
    one_resource,
    success,
)
from db_postgres_service.api.deps import IdempotencyDep, SettingsDep, TransactionDep
from db_postgres_service.api.hot_paths import HotCreate, HotPage, HotRead, is_plain_id, route_of
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.responses import (
    JSON_MEDIA_TYPE,
    Created,
    Rendered,
    resource_response,
)
from db_postgres_service.api.routing import StrictRoute
from db_postgres_service.api.scopes import requires
from db_postgres_service.core.errors import (
    PreconditionFailed,
    PreconditionRequired,
    ServiceError,
)
from db_postgres_service.organizations.models import Role
from db_postgres_service.organizations.queries import (
    MembershipFilters,
    OrganizationFilters,
    members_page,
    membership,
    organization_by_id,
    organization_by_slug,
    organization_page,
    user_memberships_page,
)
from db_postgres_service.organizations.repository import OrganizationRepository
from db_postgres_service.organizations.representation import rendered
from db_postgres_service.organizations.schemas import (
    CREATE_EXAMPLES,
    MEMBERSHIP_EXAMPLES,
    UPDATE_EXAMPLES,
    MembershipOut,
    MembershipPage,
    MembershipPut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPage,
    OrganizationUpdate,
)
from db_postgres_service.organizations.sql import MembershipRecord, OrganizationRecord

ORGANIZATIONS_READ = "organizations:read"
ORGANIZATIONS_WRITE = "organizations:write"
PREFIX = "/api/v1"
ORGANIZATIONS_PATH = PREFIX + "/organizations"
ORGANIZATION_PATH = ORGANIZATIONS_PATH + "/{organization_id}"
MEMBERS_PATH = ORGANIZATION_PATH + "/members"
MEMBER_PATH = MEMBERS_PATH + "/{user_id}"
USER_ORGANIZATIONS_PATH = PREFIX + "/users/{user_id}/organizations"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

router = APIRouter(route_class=StrictRoute)

OrganizationId = Annotated[int, Path(description="The organization's id.", examples=[1])]
UserId = Annotated[int, Path(description="The user's id.", examples=[1])]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=2048)]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description='`*`: create the membership only, never change it; ETags (`"3"`): do not '
        "change it while it has one of these versions.",
        json_schema_extra=PRECONDITION_SCHEMA,
    ),
]


class OrganizationOrder(StrEnum):
    ID = "id"
    ID_DESC = "-id"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class MemberOrder(StrEnum):
    USER_ID = "user_id"
    USER_ID_DESC = "-user_id"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class UserOrganizationOrder(StrEnum):
    ORGANIZATION_ID = "organization_id"
    ORGANIZATION_ID_DESC = "-organization_id"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


def _organization_location(organization: OrganizationRecord) -> str:
    return ORGANIZATION_PATH.format(organization_id=organization.id)


def _member_location(member: MembershipRecord) -> str:
    return MEMBER_PATH.format(organization_id=member.organization_id, user_id=member.user_id)


# --- organizations ------------------------------------------------------------------------------


@router.post(
    ORGANIZATIONS_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=OrganizationOut,
    responses=idempotent_post(
        "The new organization",
        {**ETAG, **location("^/api/v1/organizations/[0-9]+$")},
        IN_FLIGHT.format(""),
    ),
    summary="Create an organization",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_WRITE)],
)
async def create_organization(
    body: Annotated[OrganizationCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    idempotency: IdempotencyDep,
    transaction: TransactionDep,
    request: Request,
) -> Response:
    async def create() -> Response:
        organization = await OrganizationRepository(transaction).create(body.slug, body.name)
        return resource_response(
            rendered(organization),
            request,
            status_code=status.HTTP_201_CREATED,
            location=_organization_location(organization),
        )

    return await idempotency.respond(create)


@router.get(
    ORGANIZATIONS_PATH,
    response_model=OrganizationPage,
    responses=problem_responses(*common_statuses()),
    summary="List organizations, one keyset page at a time",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_READ)],
)
async def list_organizations(
    request: Request,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    order: OrganizationOrder = OrganizationOrder.ID,
    slug_prefix: Annotated[str | None, Query(max_length=63)] = None,
) -> Response:
    body = await organization_page(
        request.app.state,
        order=order.value,
        filters=OrganizationFilters(slug_prefix),
        cursor=cursor,
        limit=limit,
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


@router.get(
    ORGANIZATIONS_PATH + "/by_slug/{slug}",
    response_model=OrganizationOut,
    responses=one_resource("The organization"),
    summary="Get an organization by slug (case-insensitive)",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_READ), CONDITIONAL_GET],
)
async def get_organization_by_slug(slug: str, request: Request) -> Response:
    return resource_response(await organization_by_slug(request.app.state, slug), request)


@router.get(
    ORGANIZATION_PATH,
    response_model=OrganizationOut,
    responses=one_resource("The organization"),
    summary="Get an organization by id",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_READ), CONDITIONAL_GET],
)
async def get_organization(organization_id: OrganizationId, request: Request) -> Response:
    return resource_response(await organization_by_id(request.app.state, organization_id), request)


@router.patch(
    ORGANIZATION_PATH,
    response_model=OrganizationOut,
    responses={
        **success(status.HTTP_200_OK, "The changed organization", ETAG),
        **problem_responses(*common_statuses({400, 404, 409, 412, 413, 415, 428})),
    },
    summary="Change an organization",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_WRITE)],
)
async def update_organization(
    organization_id: OrganizationId,
    body: Annotated[OrganizationUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    settings: SettingsDep,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_versions(if_match, required=settings.require_if_match)
    async with request.app.state.statement_pool.connection() as db:
        organization = await OrganizationRepository(db).update(
            organization_id,
            slug=None if body.slug is MISSING else body.slug,
            name=None if body.name is MISSING else body.name,
            expected=expected,
        )
    return resource_response(rendered(organization), request)


@router.delete(
    ORGANIZATION_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*common_statuses({400, 404, 412, 428})),
    summary="Delete an organization and its memberships",
    tags=["organizations"],
    dependencies=[requires(ORGANIZATIONS_WRITE)],
)
async def delete_organization(
    organization_id: OrganizationId,
    settings: SettingsDep,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_versions(if_match, required=settings.require_if_match)
    async with request.app.state.statement_pool.connection() as db:
        await OrganizationRepository(db).delete(organization_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- memberships --------------------------------------------------------------------------------

_OWNER_REQUIRED = (
    "`owner-required` (`organization_id`): the organization would have members but no owner"
)


@router.put(
    MEMBER_PATH,
    response_model=MembershipOut,
    responses={
        **success(status.HTTP_200_OK, "The membership existed; it now has this role", ETAG),
        **success(
            status.HTTP_201_CREATED,
            "The membership was created",
            ETAG,
            location("^/api/v1/organizations/[0-9]+/members/[0-9]+$"),
        ),
        **problem_responses(
            *common_statuses({400, 404, 409, 412, 413, 415, 428}),
            descriptions={409: _OWNER_REQUIRED},
        ),
    },
    summary="Give a user a role in an organization",
    tags=["memberships"],
    dependencies=[requires(ORGANIZATIONS_WRITE)],
)
async def put_membership(
    organization_id: OrganizationId,
    user_id: UserId,
    body: Annotated[MembershipPut, Body(openapi_examples=MEMBERSHIP_EXAMPLES)],
    settings: SettingsDep,
    request: Request,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    create_only = is_create_only(if_none_match)
    expected = expected_versions(if_match, required=False)
    unwanted = unwanted_versions(if_none_match)
    if create_only and if_match is not None:
        raise PreconditionFailed("If-Match and If-None-Match: * never hold together.")
    if_exists: ServiceError | None = None
    if create_only:
        if_exists = PreconditionFailed(
            "The membership exists already; If-None-Match: * asks to create it only."
        )
    elif if_match is None and settings.require_if_match:
        # Creating needs no If-Match (nothing to match); changing a membership does.
        if_exists = PreconditionRequired("Send If-Match with the membership's current ETag.")
    async with request.app.state.statement_pool.connection() as db:
        member, created = await OrganizationRepository(db).put_membership(
            organization_id,
            user_id,
            body.role,
            expected=expected,
            if_match=if_match is not None,
            unwanted=unwanted,
            if_exists=if_exists,
        )
    if created:
        return resource_response(
            rendered(member),
            request,
            status_code=status.HTTP_201_CREATED,
            location=_member_location(member),
        )
    return resource_response(rendered(member), request)


@router.get(
    MEMBER_PATH,
    response_model=MembershipOut,
    responses=one_resource("The membership"),
    summary="Get a user's membership in an organization",
    tags=["memberships"],
    dependencies=[requires(ORGANIZATIONS_READ), CONDITIONAL_GET],
)
async def get_membership(
    organization_id: OrganizationId, user_id: UserId, request: Request
) -> Response:
    return resource_response(await membership(request.app.state, organization_id, user_id), request)


@router.delete(
    MEMBER_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        *common_statuses({400, 404, 409, 412, 428}), descriptions={409: _OWNER_REQUIRED}
    ),
    summary="Remove a user from an organization",
    tags=["memberships"],
    dependencies=[requires(ORGANIZATIONS_WRITE)],
)
async def delete_membership(
    organization_id: OrganizationId,
    user_id: UserId,
    settings: SettingsDep,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_versions(if_match, required=settings.require_if_match)
    async with request.app.state.statement_pool.connection() as db:
        await OrganizationRepository(db).delete_membership(organization_id, user_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    MEMBERS_PATH,
    response_model=MembershipPage,
    responses=problem_responses(*common_statuses({404})),
    summary="List an organization's memberships, one keyset page at a time",
    tags=["memberships"],
    dependencies=[requires(ORGANIZATIONS_READ)],
)
async def list_members(
    organization_id: OrganizationId,
    request: Request,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    order: MemberOrder = MemberOrder.USER_ID,
    role: Role | None = None,
) -> Response:
    body = await members_page(
        request.app.state,
        order=order.value,
        filters=MembershipFilters(organization_id, role),
        cursor=cursor,
        limit=limit,
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


@router.get(
    USER_ORGANIZATIONS_PATH,
    response_model=MembershipPage,
    responses=problem_responses(*common_statuses({404})),
    summary="List a user's memberships, one keyset page at a time",
    tags=["memberships"],
    dependencies=[requires(ORGANIZATIONS_READ)],
)
async def list_user_organizations(
    user_id: UserId,
    request: Request,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    order: UserOrganizationOrder = UserOrganizationOrder.ORGANIZATION_ID,
    role: Role | None = None,
) -> Response:
    body = await user_memberships_page(
        request.app.state,
        order=order.value,
        filters=MembershipFilters(user_id, role),
        cursor=cursor,
        limit=limit,
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


# --- the fast lane ------------------------------------------------------------------------------


async def _read_by_id(state: State, segment: str) -> Rendered:
    return await organization_by_id(state, int(segment))


async def _create_in_one_statement(state: State, body: OrganizationCreate) -> Created:
    """The create without an Idempotency-Key: one INSERT, its own transaction."""
    async with state.statement_pool.connection() as db:
        organization = await OrganizationRepository(db).create(body.slug, body.name)
    return Created(rendered(organization), _organization_location(organization))


async def _unfiltered_pages(state: State, limit: int, cursor: str | None) -> bytes:
    return await organization_page(
        state,
        order=OrganizationOrder.ID.value,
        filters=OrganizationFilters(),
        cursor=cursor,
        limit=limit,
    )


ORGANIZATIONS = Resource(
    router,
    hot_reads=(
        HotRead(route_of(router, ORGANIZATION_PATH, "GET"), is_plain_id, _read_by_id),
        HotRead(
            route_of(router, ORGANIZATIONS_PATH + "/by_slug/{slug}", "GET"),
            bool,
            organization_by_slug,
        ),
    ),
    hot_pages=(
        HotPage(
            route_of(router, ORGANIZATIONS_PATH, "GET"),
            _unfiltered_pages,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        ),
    ),
    hot_creates=(
        HotCreate(
            route_of(router, ORGANIZATIONS_PATH, "POST"),
            OrganizationCreate,
            _create_in_one_statement,
        ),
    ),
)
