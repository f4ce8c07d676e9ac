"""The user routes of CONTRACT.md: users are a standard resource, declared once (the toolkit
serves create, reads, list, PATCH and DELETE); the password is hashed on its way to the
`hashed_password` column, and the batch create and the login check are written here by hand."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from pydantic import MISSING
from starlette.datastructures import State

from db_postgres_service.api.declarations import (
    ETAG,
    IN_FLIGHT,
    idempotent_post,
    success,
)
from db_postgres_service.api.deps import IdempotencyDep, PasswordHasherDep, TransactionDep
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.responses import JSON_MEDIA_TYPE, resource_response
from db_postgres_service.api.routing import StrictRoute
from db_postgres_service.api.scopes import requires
from db_postgres_service.api.standard import (
    Case,
    Columns,
    CreatedBetween,
    Equal,
    Lookup,
    Prefix,
    StandardResource,
)
from db_postgres_service.api.standard_routes import PREFIX, serve
from db_postgres_service.core.errors import InvalidLogin
from db_postgres_service.core.security import PasswordHasher
from db_postgres_service.users.models import User
from db_postgres_service.users.repository import UserRepository
from db_postgres_service.users.representation import rendered, user_json
from db_postgres_service.users.schemas import (
    BATCH_EXAMPLES,
    CREATE_EXAMPLES,
    CREDENTIALS_EXAMPLES,
    EMAIL_MAX_LENGTH,
    UPDATE_EXAMPLES,
    Credentials,
    UserBatch,
    UserBatchCreate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from db_postgres_service.users.sql import USERS as USERS_TABLE
from db_postgres_service.users.sql import NewUser

USERS_READ = "users:read"
USERS_WRITE = "users:write"
USERS_AUTHENTICATE = "users:authenticate"

router = APIRouter(prefix=PREFIX + "/users", tags=["users"], route_class=StrictRoute)


async def get_user_repository(request: Request, transaction: TransactionDep) -> UserRepository:
    return UserRepository(
        transaction,
        events=request.app.state.outbox.source_of(USERS_TABLE),
        actor=request.state.client,
    )


# The repository inside the request's transaction.
UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]


def _new_user(body: UserCreate, hashed_password: str) -> NewUser:
    return NewUser(email=body.email, username=body.username, hashed_password=hashed_password)


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


async def _hash_of(body: UserCreate | UserUpdate, hasher: PasswordHasher) -> str:
    """The hash to store: the imported one as given, or a fresh argon2id of the password."""
    if body.password is not MISSING:
        return await hasher.hash(body.password)
    assert body.password_hash is not MISSING, "the schema guarantees one of the two"
    return body.password_hash


async def _columns(state: State, body: UserCreate | UserUpdate) -> Columns:
    """A user's columns: the password, if one is given, as its hash."""
    columns = body.model_dump(exclude={"password", "password_hash"})
    if body.password is not MISSING or body.password_hash is not MISSING:
        columns["hashed_password"] = await _hash_of(body, state.password_hasher)
    return columns


USERS = serve(
    StandardResource(
        User,
        read_scope=USERS_READ,
        write_scope=USERS_WRITE,
        create=UserCreate,
        update=UserUpdate,
        out=UserOut,
        lookups=(Lookup("username", Case.INSENSITIVE), Lookup("email", Case.STORED_LOWER)),
        filters=(
            Equal("email", Case.STORED_LOWER, max_length=EMAIL_MAX_LENGTH),
            Equal("username", Case.INSENSITIVE),
            Prefix("username", Case.INSENSITIVE),
            CreatedBetween(),
        ),
        to_columns=_columns,
        change_columns=_columns,
        create_examples=CREATE_EXAMPLES,
        update_examples=UPDATE_EXAMPLES,
        delete_conflict="`owner-required` (`organization_id`): the user is the only owner of an "
        "organization that has other members",
    ),
    beside=router,
)
