"""The user routes of CONTRACT.md: HTTP in and out, no SQL."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import MISSING

from db_postgres_service.api.deps import PasswordHasherDep, UserRepositoryDep
from db_postgres_service.api.problems import common_statuses, problem_responses
from db_postgres_service.api.responses import user_response
from db_postgres_service.api.routing import JsonRoute
from db_postgres_service.schemas.user import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"], route_class=JsonRoute)

UserId = Annotated[int, Path(description="The user's id.")]
USER_PATH = "/api/v1/users/{id}"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problem_responses(*common_statuses({400, 409, 413, 415})),
    summary="Create a user",
)
async def create_user(
    body: UserCreate, users: UserRepositoryDep, hasher: PasswordHasherDep, request: Request
) -> Response:
    hashed = body.password_hash if body.password is MISSING else await hasher.hash(body.password)
    assert hashed is not MISSING
    user = await users.create(email=body.email, username=body.username, hashed_password=hashed)
    return user_response(
        user,
        request,
        status_code=status.HTTP_201_CREATED,
        location=USER_PATH.format(id=user.id),
    )


@router.get(
    "/by_username/{username}",
    response_model=UserOut,
    responses=problem_responses(*common_statuses({404})),
    summary="Get a user by username (case-insensitive)",
)
async def get_user_by_username(
    username: str, users: UserRepositoryDep, request: Request
) -> Response:
    return user_response(await users.get_by_username(username), request)


@router.get(
    "/{user_id}",
    response_model=UserOut,
    responses={304: {"description": "Not modified"}, **problem_responses(*common_statuses({404}))},
    summary="Get a user by id",
)
async def get_user(user_id: UserId, users: UserRepositoryDep, request: Request) -> Response:
    return user_response(await users.get(user_id), request)
