"""The organization and membership routes of CONTRACT.md: organizations are a standard
resource, declared once (the toolkit serves every route of it); memberships, with their owner
rule and PUT, are written here by hand on the same pieces."""

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Request, Response, status

from db_postgres_service.api.conditional import (
    expected_versions,
    is_create_only,
    unwanted_versions,
)
from db_postgres_service.api.declarations import (
    CONDITIONAL_GET,
    ETAG,
    PRECONDITION_SCHEMA,
    IfMatch,
    location,
    one_resource,
    success,
)
from db_postgres_service.api.deps import SettingsDep
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.responses import JSON_MEDIA_TYPE, resource_response
from db_postgres_service.api.routing import StrictRoute
from db_postgres_service.api.scopes import requires
from db_postgres_service.api.standard import Case, Lookup, Prefix, StandardResource
from db_postgres_service.api.standard_routes import DEFAULT_PAGE_SIZE, PREFIX, Cursor, Limit, serve
from db_postgres_service.core.errors import (
    PreconditionFailed,
    PreconditionRequired,
    ServiceError,
)
from db_postgres_service.organizations.models import Organization, Role
from db_postgres_service.organizations.queries import (
    MembershipFilters,
    members_page,
    membership,
    user_memberships_page,
)
from db_postgres_service.organizations.repository import MembershipRepository
from db_postgres_service.organizations.representation import rendered
from db_postgres_service.organizations.schemas import (
    CREATE_EXAMPLES,
    MEMBERSHIP_EXAMPLES,
    UPDATE_EXAMPLES,
    MembershipOut,
    MembershipPage,
    MembershipPut,
    Name,
    Slug,
)
from db_postgres_service.organizations.sql import MEMBERSHIP_EVENTS, MembershipRecord

ORGANIZATIONS_READ = "organizations:read"
ORGANIZATIONS_WRITE = "organizations:write"
MEMBERS_PATH = PREFIX + "/organizations/{organization_id}/members"
MEMBER_PATH = MEMBERS_PATH + "/{user_id}"
USER_ORGANIZATIONS_PATH = PREFIX + "/users/{user_id}/organizations"

router = APIRouter(route_class=StrictRoute)

OrganizationId = Annotated[int, Path(description="The organization's id.", examples=[1])]
UserId = Annotated[int, Path(description="The user's id.", examples=[1])]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description='`*`: create the membership only, never change it; ETags (`"3"`): do not '
        "change it while it has one of these versions.",
        json_schema_extra=PRECONDITION_SCHEMA,
    ),
]


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


def _member_location(member: MembershipRecord) -> str:
    return MEMBER_PATH.format(organization_id=member.organization_id, user_id=member.user_id)


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
        member, created = await MembershipRepository(db, actor=request.state.client).put_membership(
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
        writer = MembershipRepository(db, actor=request.state.client)
        await writer.delete_membership(organization_id, user_id, expected)
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


ORGANIZATIONS = serve(
    StandardResource(
        Organization,
        read_scope=ORGANIZATIONS_READ,
        write_scope=ORGANIZATIONS_WRITE,
        fields={"slug": Slug, "name": Name},
        lookups=(Lookup("slug", Case.STORED_LOWER),),
        filters=(Prefix("slug", Case.STORED_LOWER),),
        create_examples=CREATE_EXAMPLES,
        update_examples=UPDATE_EXAMPLES,
    ),
    beside=router,
    events=(MEMBERSHIP_EVENTS,),
)
