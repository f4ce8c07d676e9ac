"""If-Match and If-None-Match that are not entity tags: a 400 that says how to write one.

RFC 9110 §13.1.1-2 gives both headers the grammar `"*" / #entity-tag`; a value outside it is
malformed syntax (400, §15.5.1), not a condition that was evaluated and failed (412).
"""

import httpx
import pytest

from .helpers import Database, assert_problem, create
from .organizations import create_organization, member_path, organization_with

HOW_TO_WRITE_IF_MATCH = (
    'If-Match must be * or entity tags in double quotes, such as "2" or "2", "3" '
    "(an ETag exactly as this service sent it)."
)
MALFORMED = ["2", "W/2", '"2', "2, 3", '"2" "3"', '*, "2"', "**", 'w/"2"']


@pytest.mark.parametrize("header", MALFORMED)
async def test_an_if_match_that_is_no_entity_tag_is_400_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, header: str
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "alicia"}, headers={"If-Match": header}
    )

    body = assert_problem(response, 400, "malformed-precondition")
    assert body["title"] == "Malformed precondition"
    assert body["detail"] == HOW_TO_WRITE_IF_MATCH
    assert await db.rows("SELECT username, version FROM users") == [
        {"username": "alice", "version": 1}
    ]


async def test_an_unquoted_if_match_on_delete_is_400_and_keeps_the_row(
    client: httpx.AsyncClient, db: Database
) -> None:
    user = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{user['id']}", headers={"If-Match": "1"})

    assert_problem(response, 400, "malformed-precondition")
    assert await db.scalar("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("header", ['"1" , ,"2"', ' "1"', ', "1",', '"9", W/"1", "1"'])
async def test_a_list_with_spaces_and_empty_elements_is_read_as_its_tags(
    client: httpx.AsyncClient, header: str
) -> None:
    user = await create(client, name="alice")

    response = await client.patch(
        f"/api/v1/users/{user['id']}", json={"username": "alicia"}, headers={"If-Match": header}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2


@pytest.mark.parametrize("header", ["", " , "])
async def test_an_empty_if_match_is_a_list_no_version_matches(
    client: httpx.AsyncClient, db: Database, header: str
) -> None:
    user = await create(client, name="alice")

    response = await client.delete(f"/api/v1/users/{user['id']}", headers={"If-Match": header})

    assert_problem(response, 412, "precondition-failed")
    assert await db.scalar("SELECT count(*) FROM users") == 1


# The plain form is served in front of FastAPI, the zero-padded one by FastAPI's route.
@pytest.mark.parametrize("spelling", ["{id}", "00{id}"])
async def test_a_get_with_an_if_none_match_that_is_no_entity_tag_is_400(
    client: httpx.AsyncClient, spelling: str
) -> None:
    user = await create(client, name="alice")

    response = await client.get(
        f"/api/v1/users/{spelling.format(id=user['id'])}", headers={"If-None-Match": "1"}
    )

    body = assert_problem(response, 400, "malformed-precondition")
    assert body["detail"].startswith("If-None-Match must be * or entity tags in double quotes")


async def test_a_get_of_an_organization_with_a_malformed_if_none_match_is_400(
    client: httpx.AsyncClient,
) -> None:
    organization = await create_organization(client)

    response = await client.get(
        f"/api/v1/organizations/{organization['id']}", headers={"If-None-Match": "W/1"}
    )

    assert_problem(response, 400, "malformed-precondition")


async def test_a_put_with_a_malformed_if_none_match_creates_no_membership(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")

    response = await client.put(
        member_path(organization["id"], user["id"]),
        json={"role": "owner"},
        headers={"If-None-Match": "all"},
    )

    assert_problem(response, 400, "malformed-precondition")
    assert await db.scalar("SELECT count(*) FROM memberships") == 0


async def test_a_put_with_a_malformed_if_match_changes_no_membership(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})

    response = await client.put(
        member_path(organization_id, ids["bob"]),
        json={"role": "admin"},
        headers={"If-Match": "1", "If-None-Match": "*"},
    )

    assert_problem(response, 400, "malformed-precondition")
    assert await db.rows(
        "SELECT role, version FROM memberships WHERE user_id = :id", id=ids["bob"]
    ) == [{"role": "member", "version": 1}]


async def test_the_document_gives_both_headers_their_grammar(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    get_user = paths["/api/v1/users/{user_id}"]["get"]["parameters"]
    patch_user = paths["/api/v1/users/{user_id}"]["patch"]["parameters"]

    if_none_match = next(p for p in get_user if p["name"] == "If-None-Match")
    if_match = next(p for p in patch_user if p["name"] == "If-Match")

    for parameter in (if_none_match, if_match):
        assert parameter["in"] == "header"
        assert parameter["schema"]["pattern"].startswith("^")
    assert "400" in paths["/api/v1/users/{user_id}"]["get"]["responses"]
