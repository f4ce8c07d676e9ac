"""Memberships, as CONTRACT.md "Memberships: users in organizations" words them."""

import httpx
import pytest

from .conftest import strict_client
from .helpers import Database, assert_problem, create
from .organizations import (
    ORGANIZATIONS,
    create_organization,
    member_path,
    organization_with,
    put_member,
)


async def test_put_creates_the_membership_with_201_location_and_etag(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")

    response = await put_member(client, organization["id"], user["id"], "owner")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "organization_id",
        "user_id",
        "role",
        "created_at",
        "updated_at",
        "version",
    }
    assert (body["organization_id"], body["user_id"], body["role"], body["version"]) == (
        organization["id"],
        user["id"],
        "owner",
        1,
    )
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == member_path(organization["id"], user["id"])
    assert await db.rows("SELECT role, version FROM memberships") == [
        {"role": "owner", "version": 1}
    ]


async def test_put_of_the_same_role_changes_nothing(client: httpx.AsyncClient) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner"})
    before = (await client.get(member_path(organization_id, ids["alice"]))).json()

    response = await put_member(client, organization_id, ids["alice"], "owner")

    assert response.status_code == 200
    assert response.json() == before
    assert response.headers["etag"] == '"1"'


async def test_put_of_another_role_answers_200_with_the_next_version(
    client: httpx.AsyncClient,
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await put_member(client, organization_id, ids["bob"], "admin")

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert "location" not in response.headers


async def test_put_with_if_none_match_star_only_creates(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner"})
    bob = await create(client, name="bob")
    create_only = {"If-None-Match": "*"}

    created = await client.put(
        member_path(organization_id, bob["id"]), json={"role": "member"}, headers=create_only
    )
    refused = await client.put(
        member_path(organization_id, ids["alice"]), json={"role": "admin"}, headers=create_only
    )

    assert created.status_code == 201
    assert_problem(refused, 412, "precondition-failed")
    assert (
        await db.scalar("SELECT role FROM memberships WHERE user_id = :id", id=ids["alice"])
        == "owner"
    )


async def test_put_with_if_match_changes_only_that_version(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    path = member_path(organization_id, ids["bob"])

    stale = await client.put(path, json={"role": "admin"}, headers={"If-Match": '"3"'})
    current = await client.put(path, json={"role": "admin"}, headers={"If-Match": '"1"'})

    assert_problem(stale, 412, "precondition-failed")
    assert current.status_code == 200
    assert current.json()["version"] == 2


async def test_put_with_if_match_on_no_membership_is_412_and_creates_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, _ = await organization_with(client, {"alice": "owner"})
    bob = await create(client, name="bob")

    response = await client.put(
        member_path(organization_id, bob["id"]), json={"role": "member"}, headers={"If-Match": "*"}
    )

    assert_problem(response, 412, "precondition-failed")
    assert await db.scalar("SELECT count(*) FROM memberships") == 1


@pytest.mark.parametrize(("which", "missing"), [("organization", "organization"), ("user", "user")])
async def test_put_for_a_missing_row_is_404_naming_it(
    client: httpx.AsyncClient, db: Database, which: str, missing: str
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")
    organization_id = organization["id"] + 100 if which == "organization" else organization["id"]
    user_id = user["id"] + 100 if which == "user" else user["id"]

    response = await put_member(client, organization_id, user_id, "owner")

    assert assert_problem(response, 404, "not-found")["missing"] == missing
    assert await db.scalar("SELECT count(*) FROM memberships") == 0


@pytest.mark.parametrize("body", [{"role": "boss"}, {}, {"role": None}, {"role": "owner", "x": 1}])
async def test_an_invalid_put_body_is_422(
    client: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")

    response = await client.put(member_path(organization["id"], user["id"]), json=body)

    assert_problem(response, 422, "validation-failed")
    assert await db.scalar("SELECT count(*) FROM memberships") == 0


async def test_the_database_refuses_an_unknown_role_whoever_writes_it(
    client: httpx.AsyncClient, db: Database
) -> None:
    _organization_id, _ids = await organization_with(client, {"alice": "owner"})

    with pytest.raises(Exception, match="ck_memberships_role_known"):
        await db.scalar("UPDATE memberships SET role = 'boss' RETURNING 1")


async def test_a_first_member_who_is_not_an_owner_is_409_owner_required(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")

    response = await put_member(client, organization["id"], user["id"], "member")

    problem = assert_problem(response, 409, "owner-required")
    assert problem["organization_id"] == organization["id"]
    assert await db.scalar("SELECT count(*) FROM memberships") == 0


async def test_demoting_the_last_owner_while_others_remain_is_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await put_member(client, organization_id, ids["alice"], "admin")

    assert assert_problem(response, 409, "owner-required")["organization_id"] == organization_id
    assert (
        await db.scalar("SELECT role FROM memberships WHERE user_id = :id", id=ids["alice"])
        == "owner"
    )


async def test_removing_the_last_owner_while_others_remain_is_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await client.delete(member_path(organization_id, ids["alice"]))

    assert_problem(response, 409, "owner-required")
    assert await db.scalar("SELECT count(*) FROM memberships") == 2


async def test_removing_the_last_member_is_allowed_and_the_organization_stays(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner"})

    response = await client.delete(member_path(organization_id, ids["alice"]))

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM memberships") == 0
    assert await db.scalar("SELECT count(*) FROM organizations") == 1


async def test_delete_membership_honours_if_match_and_404s_after(
    client: httpx.AsyncClient,
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    path = member_path(organization_id, ids["bob"])

    stale = await client.delete(path, headers={"If-Match": '"2"'})
    deleted = await client.delete(path, headers={"If-Match": '"1"'})
    again = await client.delete(path)

    assert_problem(stale, 412, "precondition-failed")
    assert deleted.status_code == 204
    assert assert_problem(again, 404, "not-found")["missing"] == "membership"


async def test_get_membership_names_what_is_missing(client: httpx.AsyncClient) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner"})
    bob = await create(client, name="bob")

    found = await client.get(member_path(organization_id, ids["alice"]))
    cached = await client.get(
        member_path(organization_id, ids["alice"]), headers={"If-None-Match": '"1"'}
    )
    no_membership = await client.get(member_path(organization_id, bob["id"]))
    no_user = await client.get(member_path(organization_id, bob["id"] + 100))
    no_organization = await client.get(member_path(organization_id + 100, ids["alice"]))

    assert found.status_code == 200
    assert found.json()["role"] == "owner"
    assert cached.status_code == 304
    assert assert_problem(no_membership, 404, "not-found")["missing"] == "membership"
    assert assert_problem(no_user, 404, "not-found")["missing"] == "user"
    assert assert_problem(no_organization, 404, "not-found")["missing"] == "organization"


async def test_deleting_a_user_removes_their_memberships(
    client: httpx.AsyncClient, db: Database
) -> None:
    _organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await client.delete(f"/api/v1/users/{ids['bob']}")

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM memberships") == 1


async def test_deleting_the_only_owner_of_an_organization_with_members_is_409(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await client.delete(f"/api/v1/users/{ids['alice']}")

    problem = assert_problem(response, 409, "owner-required")
    assert problem["organization_id"] == organization_id
    assert await db.scalar("SELECT count(*) FROM users") == 2
    assert await db.scalar("SELECT count(*) FROM memberships") == 2


async def test_deleting_the_sole_member_owner_leaves_an_empty_organization(
    client: httpx.AsyncClient, db: Database
) -> None:
    _organization_id, ids = await organization_with(client, {"alice": "owner"})

    response = await client.delete(f"/api/v1/users/{ids['alice']}")

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM memberships") == 0
    assert await db.scalar("SELECT count(*) FROM organizations") == 1


async def test_deleting_an_organization_removes_its_memberships(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, _ = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await client.delete(f"{ORGANIZATIONS}/{organization_id}")

    assert response.status_code == 204
    assert await db.scalar("SELECT count(*) FROM memberships") == 0
    assert await db.scalar("SELECT count(*) FROM users") == 2


async def test_members_list_walks_every_order_and_filters_by_role(
    client: httpx.AsyncClient,
) -> None:
    roles = {"alice": "owner", "bob": "member", "carol": "admin", "dave": "member"}
    organization_id, ids = await organization_with(client, roles)
    by_id = sorted(ids.values())
    created_order = [ids[name] for name in ("alice", "bob", "carol", "dave")]

    for order, expected in [
        ("user_id", by_id),
        ("-user_id", by_id[::-1]),
        ("created_at", created_order),
        ("-created_at", created_order[::-1]),
    ]:
        assert await _walk(client, f"{ORGANIZATIONS}/{organization_id}/members", order) == expected
    members = await _walk(client, f"{ORGANIZATIONS}/{organization_id}/members", "user_id", "member")
    assert members == sorted([ids["bob"], ids["dave"]])


async def test_a_users_organizations_list_walks_every_order(client: httpx.AsyncClient) -> None:
    alice = await create(client, name="alice")
    organizations = []
    for slug in ("one", "two", "three"):
        organization = await create_organization(client, slug=slug)
        await put_member(client, organization["id"], alice["id"], "owner")
        organizations.append(organization["id"])
    path = f"/api/v1/users/{alice['id']}/organizations"

    assert await _walk(client, path, "organization_id") == organizations
    assert await _walk(client, path, "-organization_id") == organizations[::-1]
    assert await _walk(client, path, "created_at") == organizations
    assert await _walk(client, path, "-created_at") == organizations[::-1]


async def test_lists_of_unknown_owners_are_404(client: httpx.AsyncClient) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")

    no_organization = await client.get(f"{ORGANIZATIONS}/{organization['id'] + 1}/members")
    no_user = await client.get(f"/api/v1/users/{user['id'] + 1}/organizations")
    empty = await client.get(f"{ORGANIZATIONS}/{organization['id']}/members")
    too_big = await client.get(f"{ORGANIZATIONS}/99999999999999999999/members")

    assert assert_problem(no_organization, 404, "not-found")["missing"] == "organization"
    assert assert_problem(no_user, 404, "not-found")["missing"] == "user"
    assert empty.json() == {"items": [], "next_cursor": None}
    assert assert_problem(too_big, 404, "not-found")["missing"] == "organization"


async def test_a_cursor_of_another_organization_is_422(client: httpx.AsyncClient) -> None:
    first_id, _ = await organization_with(client, {"alice": "owner", "bob": "member"}, slug="one")
    second_id, _ = await organization_with(client, {"carol": "owner"}, slug="two")
    page = (await client.get(f"{ORGANIZATIONS}/{first_id}/members", params={"limit": "1"})).json()

    response = await client.get(
        f"{ORGANIZATIONS}/{second_id}/members", params={"limit": "1", "cursor": page["next_cursor"]}
    )

    assert_problem(response, 422, "validation-failed")


async def _walk(
    client: httpx.AsyncClient, path: str, order: str, role: str | None = None
) -> list[int]:
    """The ids of the list's other end, page by page (one item per page)."""
    key = "user_id" if path.endswith("/members") else "organization_id"
    seen: list[int] = []
    cursor = None
    while True:
        params = {"order": order, "limit": "1"}
        if role is not None:
            params["role"] = role
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item[key] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_put_with_if_none_match_of_the_current_etag_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    path = member_path(organization_id, ids["bob"])

    refused = await client.put(path, json={"role": "admin"}, headers={"If-None-Match": 'W/"1"'})
    allowed = await client.put(path, json={"role": "admin"}, headers={"If-None-Match": '"7"'})

    assert_problem(refused, 412, "precondition-failed")
    assert allowed.status_code == 200
    assert allowed.json()["version"] == 2


async def test_put_of_the_same_role_with_a_stale_if_match_is_412(
    client: httpx.AsyncClient,
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner"})

    response = await client.put(
        member_path(organization_id, ids["alice"]),
        json={"role": "owner"},
        headers={"If-Match": '"5"'},
    )

    assert_problem(response, 412, "precondition-failed")


async def test_the_owner_rule_holds_for_any_writer_not_only_the_routes(
    client: httpx.AsyncClient, db: Database
) -> None:
    _organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    with pytest.raises(Exception, match="would have members but no owner"):
        await db.scalar(
            "UPDATE memberships SET role = 'member' WHERE user_id = :id RETURNING 1",
            id=ids["alice"],
        )
    assert (
        await db.scalar("SELECT role FROM memberships WHERE user_id = :id", id=ids["alice"])
        == "owner"
    )


async def test_deleting_one_of_two_owners_keeps_the_other_and_the_members(
    client: httpx.AsyncClient, db: Database
) -> None:
    _organization_id, ids = await organization_with(
        client, {"alice": "owner", "bob": "owner", "carol": "member"}
    )

    response = await client.delete(f"/api/v1/users/{ids['alice']}")

    assert response.status_code == 204
    rows = await db.rows("SELECT user_id, role FROM memberships ORDER BY user_id")
    assert rows == [
        {"user_id": ids["bob"], "role": "owner"},
        {"user_id": ids["carol"], "role": "member"},
    ]


async def test_with_require_if_match_a_put_may_create_but_not_change_without_it(
    database_url: str, client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, _ids = await organization_with(client, {"alice": "owner"})
    bob = await create(client, name="bob")

    async with strict_client(database_url) as strict:
        created = await put_member(strict, organization_id, bob["id"], "member")
        changed = await put_member(strict, organization_id, bob["id"], "admin")
        removed = await strict.delete(member_path(organization_id, bob["id"]))
        matched = await strict.put(
            member_path(organization_id, bob["id"]),
            json={"role": "admin"},
            headers={"If-Match": '"1"'},
        )

    assert created.status_code == 201
    assert_problem(changed, 428, "precondition-required")
    assert_problem(removed, 428, "precondition-required")
    assert matched.status_code == 200
    assert (
        await db.scalar("SELECT role FROM memberships WHERE user_id = :id", id=bob["id"]) == "admin"
    )


async def test_a_users_organizations_list_filters_by_role(client: httpx.AsyncClient) -> None:
    owned, ids = await organization_with(client, {"alice": "owner"}, slug="one")
    joined, _ = await organization_with(client, {"bob": "owner"}, slug="two")
    await put_member(client, joined, ids["alice"], "admin")
    path = f"/api/v1/users/{ids['alice']}/organizations"

    assert await _walk(client, path, "organization_id", "owner") == [owned]
    assert await _walk(client, path, "organization_id", "admin") == [joined]
    assert await _walk(client, path, "organization_id", "member") == []
