"""The user routes of CONTRACT.md: HTTP in and out, no SQL."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from pydantic import MISSING
from starlette.convertors import register_url_convertor
from starlette.datastructures import State

from db_postgres_service.api.conditional import expected_versions
from db_postgres_service.api.declarations import (
    CONDITIONAL_GET,
    ETAG,
    IN_FLIGHT,
    IfMatch,
    idempotent_post,
    location,
    one_resource,
    success,
)
from db_postgres_service.api.deps import (
    IdempotencyDep,
    PasswordHasherDep,
    SettingsDep,
    TransactionDep,
)
from db_postgres_service.api.hot_paths import (
    HotCreate,
    HotPage,
    HotRead,
    is_plain_id,
    route_of,
)
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.responses import (
    JSON_MEDIA_TYPE,
    Created,
    Rendered,
    resource_response,
)
from db_postgres_service.api.routing import StrictRoute, segment_except
from db_postgres_service.api.scopes import requires
from db_postgres_service.core.errors import InvalidLogin
from db_postgres_service.schemas.common import Timestamp
from db_postgres_service.users.queries import (
    USERS_PREFIX,
    user_by_email,
    user_by_id,
    user_by_username,
    user_page,
)
from db_postgres_service.users.repository import UserRepository
from db_postgres_service.users.representation import rendered, user_json
from db_postgres_service.users.schemas import (
    BATCH_EXAMPLES,
    CREATE_EXAMPLES,
    CREDENTIALS_EXAMPLES,
    UPDATE_EXAMPLES,
    Credentials,
    UserBatch,
    UserBatchCreate,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)
from db_postgres_service.users.sql import (
    NewUser,
    UserFilters,
    UserOrder,
    UserRecord,
)

router = APIRouter(prefix=USERS_PREFIX, tags=["users"], route_class=StrictRoute)


async def get_user_repository(transaction: TransactionDep) -> UserRepository:
    return UserRepository(transaction)


# The repository inside the request's transaction.
UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]
USERS_READ = "users:read"
USERS_WRITE = "users:write"
USERS_AUTHENTICATE = "users:authenticate"
# `/{user_id:user_id}` matches any segment but the names of the routes beside it.
register_url_convertor("user_id", segment_except("batch", "authenticate"))

UserId = Annotated[int, Path(description="The user's id.", examples=[1])]
USER_PATH = USERS_PREFIX + "/{id}"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_ONE_USER = one_resource("The user")


def _new_user(body: UserCreate, hashed_password: str) -> NewUser:
    return NewUser(email=body.email, username=body.username, hashed_password=hashed_password)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=idempotent_post(
        "The new user", {**ETAG, **location("^/api/v1/users/[0-9]+$")}, IN_FLIGHT.format("")
    ),
    summary="Create a user",
    dependencies=[requires(USERS_WRITE)],
)
async def create_user(
    body: Annotated[UserCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    users: UserRepositoryDep,
    hasher: PasswordHasherDep,
    idempotency: IdempotencyDep,
    request: Request,
) -> Response:
    async def create() -> Response:
        user = await users.create(_new_user(body, await _hash_of(body, hasher)))
        return resource_response(
            rendered(user),
            request,
            status_code=status.HTTP_201_CREATED,
            location=_location(user),
        )

    return await idempotency.respond(create)


@router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=UserBatch,
    responses=idempotent_post("The new users, in input order", {}, IN_FLIGHT.format(", `index`")),
    summary="Create 1-1000 users, all or nothing",
    dependencies=[requires(USERS_WRITE)],
)
async def create_users(
    body: Annotated[UserBatchCreate, Body(openapi_examples=BATCH_EXAMPLES)],
    users: UserRepositoryDep,
    hasher: PasswordHasherDep,
    idempotency: IdempotencyDep,
) -> Response:
    async def create_all() -> Response:
        passwords = [item.password for item in body.items if item.password is not MISSING]
        if passwords:
            # Each costs tens of milliseconds of argon2: a batch bound to conflict is refused
            # before paying for them.
            await users.refuse_conflicting([(item.email, item.username) for item in body.items])
        # All passwords of the batch are hashed at once, in parallel, off the event loop.
        hashes = iter(await hasher.hash_many(passwords))
        created = await users.create_many(
            [
                _new_user(
                    item,
                    item.password_hash if item.password_hash is not MISSING else next(hashes),
                )
                for item in body.items
            ]
        )
        items = b",".join(user_json(user) for user in created)
        return Response(
            b'{"items":[' + items + b"]}",
            status_code=status.HTTP_201_CREATED,
            media_type=JSON_MEDIA_TYPE,
        )

    return await idempotency.respond(create_all)


@router.post(
    "/authenticate",
    response_model=UserOut,
    responses={
        **success(status.HTTP_200_OK, "The user whose password this is", ETAG),
        **problem_responses(
            *common_statuses({400, 401, 413, 415}),
            descriptions={401: "Wrong login or password, or a missing or invalid API key"},
        ),
    },
    summary="Check a login's password",
    dependencies=[requires(USERS_AUTHENTICATE)],
)
async def authenticate(
    body: Annotated[Credentials, Body(openapi_examples=CREDENTIALS_EXAMPLES)],
    hasher: PasswordHasherDep,
    request: Request,
) -> Response:
    # No transaction and no connection held while the password is verified (tens of ms):
    # the re-hash is one statement that applies only to the hash that was verified.
    pool = request.app.state.statement_pool
    async with pool.connection() as db:
        user = await UserRepository(db).find_by_login(body.login)
    if user is None:
        await hasher.verify_dummy(body.password)
        raise InvalidLogin()
    valid, updated_hash = await hasher.verify_and_update(body.password, user.hashed_password)
    if not valid:
        raise InvalidLogin()
    if updated_hash is not None:
        async with pool.connection() as db:
            await UserRepository(db).replace_password_hash(
                user.id, user.hashed_password, updated_hash
            )
    return resource_response(rendered(user), request)


@router.get(
    "",
    response_model=UserPage,
    responses=problem_responses(*common_statuses()),
    summary="List users, one keyset page at a time",
    dependencies=[requires(USERS_READ)],
)
async def list_users(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    order: UserOrder = UserOrder.ID,
    email: Annotated[str | None, Query(max_length=254)] = None,
    username: Annotated[str | None, Query(max_length=100)] = None,
    username_prefix: Annotated[str | None, Query(max_length=100)] = None,
    created_after: Timestamp | None = None,
    created_before: Timestamp | None = None,
) -> Response:
    filters = UserFilters(email, username, username_prefix, created_after, created_before)
    body = await user_page(
        request.app.state, order=order, filters=filters, cursor=cursor, limit=limit
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


@router.get(
    "/by_username/{username}",
    response_model=UserOut,
    responses=_ONE_USER,
    summary="Get a user by username (case-insensitive)",
    dependencies=[requires(USERS_READ), CONDITIONAL_GET],
)
async def get_user_by_username(username: str, request: Request) -> Response:
    return resource_response(await user_by_username(request.app.state, username), request)


@router.get(
    "/by_email/{email}",
    response_model=UserOut,
    responses=_ONE_USER,
    summary="Get a user by email (case-insensitive)",
    dependencies=[requires(USERS_READ), CONDITIONAL_GET],
)
async def get_user_by_email(email: str, request: Request) -> Response:
    return resource_response(await user_by_email(request.app.state, email), request)


@router.get(
    "/{user_id:user_id}",
    response_model=UserOut,
    responses=_ONE_USER,
    summary="Get a user by id",
    dependencies=[requires(USERS_READ), CONDITIONAL_GET],
)
async def get_user(user_id: UserId, request: Request) -> Response:
    # Plain requests never get here: api/hot_paths.py answers them in front of FastAPI.
    return resource_response(await user_by_id(request.app.state, user_id), request)


@router.patch(
    "/{user_id:user_id}",
    response_model=UserOut,
    responses={
        **success(status.HTTP_200_OK, "The changed user", ETAG),
        **problem_responses(*common_statuses({400, 404, 409, 412, 413, 415, 428})),
    },
    summary="Change a user",
    dependencies=[requires(USERS_WRITE)],
)
async def update_user(
    user_id: UserId,
    body: Annotated[UserUpdate, Body(openapi_examples=UPDATE_EXAMPLES)],
    hasher: PasswordHasherDep,
    settings: SettingsDep,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    expected = expected_versions(if_match, required=settings.require_if_match)
    values: dict[str, str] = {}
    if body.email is not MISSING:
        values["email"] = body.email
    if body.username is not MISSING:
        values["username"] = body.username
    if body.password is not MISSING or body.password_hash is not MISSING:
        values["hashed_password"] = await _hash_of(body, hasher)
    async with request.app.state.statement_pool.connection() as db:
        user = await UserRepository(db).update(user_id, values, expected)
    return resource_response(rendered(user), request)


@router.delete(
    "/{user_id:user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*common_statuses({400, 404, 412, 428})),
    summary="Delete a user",
    dependencies=[requires(USERS_WRITE)],
)
async def delete_user(
    user_id: UserId, settings: SettingsDep, request: Request, if_match: IfMatch = None
) -> Response:
    expected = expected_versions(if_match, required=settings.require_if_match)
    async with request.app.state.statement_pool.connection() as db:
        await UserRepository(db).delete(user_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _hash_of(body: UserCreate | UserUpdate, hasher: PasswordHasherDep) -> str:
    """The hash to store: the imported one as given, or a fresh argon2id of the password."""
    if body.password is not MISSING:
        return await hasher.hash(body.password)
    assert body.password_hash is not MISSING, "the schema guarantees one of the two"
    return body.password_hash


async def _read_by_id(state: State, segment: str) -> Rendered:
    return await user_by_id(state, int(segment))


async def _create_in_one_statement(state: State, body: UserCreate) -> Created:
    """The create without an Idempotency-Key: one INSERT, its own transaction."""
    hashed = await _hash_of(body, state.password_hasher)
    async with state.statement_pool.connection() as db:
        user = await UserRepository(db).create(_new_user(body, hashed))
    return Created(rendered(user), _location(user))


def _location(user: UserRecord) -> str:
    return USER_PATH.format(id=user.id)


async def _unfiltered_pages(state: State, limit: int, cursor: str | None) -> bytes:
    return await user_page(
        state, order=UserOrder.ID, filters=UserFilters(), cursor=cursor, limit=limit
    )


USERS = Resource(
    router,
    hot_reads=(
        HotRead(
            route_of(router, USERS_PREFIX + "/by_username/{username}", "GET"),
            bool,
            user_by_username,
        ),
        HotRead(route_of(router, USERS_PREFIX + "/by_email/{email}", "GET"), bool, user_by_email),
        HotRead(route_of(router, USERS_PREFIX + "/{user_id}", "GET"), is_plain_id, _read_by_id),
    ),
    hot_pages=(
        HotPage(
            route_of(router, USERS_PREFIX, "GET"),
            _unfiltered_pages,
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        ),
    ),
    hot_creates=(
        HotCreate(route_of(router, USERS_PREFIX, "POST"), UserCreate, _create_in_one_statement),
    ),
)
