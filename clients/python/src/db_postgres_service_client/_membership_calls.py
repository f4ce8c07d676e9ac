"""The calls of memberships: a user in an organization, addressed by both ids."""

from db_postgres_service_client._calls import (
    Call,
    Endpoint,
    headers,
    identity,
    nothing,
    parser,
    query,
)
from db_postgres_service_client.models import Membership, Organization, Page, Role, User

ENDPOINTS = {
    "put": Endpoint("PUT", "/organizations/{}/members/{}"),
    "get": Endpoint("GET", "/organizations/{}/members/{}"),
    "delete": Endpoint("DELETE", "/organizations/{}/members/{}"),
    "list": Endpoint("GET", "/organizations/{}/members"),
    "of_user": Endpoint("GET", "/users/{}/organizations"),
}
_one = parser(Membership)
_page = parser(Page[Membership])


def _ids(organization: Organization | int, user: User | int) -> tuple[int, int]:
    return identity(organization, Organization), identity(user, User)


def put(
    organization: Organization | int,
    user: User | int,
    role: Role,
    if_match: str | None,
    create_only: bool,
    request_id: str | None,
) -> Call[Membership]:
    return Call(
        "PUT",
        ENDPOINTS["put"].path(*_ids(organization, user)),
        _one,
        body={"role": role},
        headers=headers(request_id, if_match=if_match, if_none_match="*" if create_only else None),
        retry_safe=if_match is not None or create_only,
    )


def get(
    organization: Organization | int, user: User | int, request_id: str | None
) -> Call[Membership]:
    path = ENDPOINTS["get"].path(*_ids(organization, user))
    return Call("GET", path, _one, headers=headers(request_id))


def delete(
    organization: Organization | int,
    user: User | int,
    if_match: str | None,
    request_id: str | None,
) -> Call[None]:
    return Call(
        "DELETE",
        ENDPOINTS["delete"].path(*_ids(organization, user)),
        nothing,
        headers=headers(request_id, if_match=if_match),
        retry_safe=if_match is not None,
    )


def page(
    endpoint: str,
    parent: Organization | User | int,
    cursor: str | None,
    role: Role | None,
    order: str | None,
    request_id: str | None,
) -> Call[Page[Membership]]:
    model = Organization if endpoint == "list" else User
    return Call(
        "GET",
        ENDPOINTS[endpoint].path(identity(parent, model)),
        _page,
        params=query(cursor=cursor, role=role, order=order),
        headers=headers(request_id),
    )
