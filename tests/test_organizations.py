"""The organization resource, as CONTRACT.md "The organization resource" words it."""

import httpx
import pytest

from .helpers import Database, assert_problem
from .organizations import ORGANIZATIONS, create_organization

RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"


async def test_create_answers_201_with_the_organization_location_and_etag(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(ORGANIZATIONS, json={"slug": "Acme-Corp", "name": "Acme Corp"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "slug", "name", "created_at", "updated_at", "version"}
    assert body["slug"] == "acme-corp"
    assert body["name"] == "Acme Corp"
    assert body["version"] == 1
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/api/v1/organizations/{body['id']}"
    rows = await db.rows("SELECT slug, name, version FROM organizations")
    assert rows == [{"slug": "acme-corp", "name": "Acme Corp", "version": 1}]


async def test_a_taken_slug_in_any_case_is_409_naming_the_slug(
    client: httpx.AsyncClient, db: Database
) -> None:
    await create_organization(client, slug="acme")

    response = await client.post(ORGANIZATIONS, json={"slug": "ACME", "name": "Other"})

    problem = assert_problem(response, 409, "conflict")
    assert problem["conflicting_field"] == "slug"
    assert await db.scalar("SELECT count(*) FROM organizations") == 1


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "a", "name": "Short"},
        {"slug": "-acme", "name": "Leading dash"},
        {"slug": "acme-", "name": "Trailing dash"},
        {"slug": "ac_me", "name": "Underscore"},
        {"slug": "a" * 64, "name": "Too long"},
        {"slug": "acme", "name": ""},
        {"slug": "acme", "name": "x" * 201},
        {"slug": "acme", "name": "Tab\tin name"},
        {"slug": "acme", "name": "C1 \u0085 control"},
        {"slug": "acme"},
        {"slug": "acme", "name": "Acme", "id": 5},
        {"slug": "acme", "name": "Acme", "version": 2},
        {"slug": None, "name": "Acme"},
    ],
)
async def test_an_invalid_create_body_is_422_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, body: dict[str, object]
) -> None:
    response = await client.post(ORGANIZATIONS, json=body)

    assert_problem(response, 422, "validation-failed")
    assert await db.scalar("SELECT count(*) FROM organizations") == 0


async def test_create_honours_idempotency_key(client: httpx.AsyncClient, db: Database) -> None:
    headers = {"Idempotency-Key": "org-1"}
    body = {"slug": "acme", "name": "Acme"}

    first = await client.post(ORGANIZATIONS, json=body, headers=headers)
    again = await client.post(ORGANIZATIONS, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await db.scalar("SELECT count(*) FROM organizations") == 1


async def test_get_by_id_answers_the_organization_and_304_for_its_etag(
    client: httpx.AsyncClient,
) -> None:
    created = await create_organization(client)
    path = f"{ORGANIZATIONS}/{created['id']}"

    response = await client.get(path)
    cached = await client.get(path, headers={"If-None-Match": '"1"'})

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'
    assert cached.status_code == 304
    assert cached.headers["etag"] == '"1"'
    assert cached.content == b""


@pytest.mark.parametrize("organization_id", ["42", "9223372036854775808", "0"])
async def test_get_of_an_unknown_organization_is_404_missing_organization(
    client: httpx.AsyncClient, organization_id: str
) -> None:
    response = await client.get(f"{ORGANIZATIONS}/{organization_id}")

    problem = assert_problem(response, 404, "not-found")
    assert problem["missing"] == "organization"


async def test_get_by_slug_matches_case_insensitively(client: httpx.AsyncClient) -> None:
    created = await create_organization(client, slug="acme")

    response = await client.get(f"{ORGANIZATIONS}/by_slug/ACME")
    unknown = await client.get(f"{ORGANIZATIONS}/by_slug/other")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'
    assert assert_problem(unknown, 404, "not-found")["missing"] == "organization"


async def test_patch_changes_the_given_fields_and_bumps_the_version(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create_organization(client, slug="acme", name="Acme")

    response = await client.patch(
        f"{ORGANIZATIONS}/{created['id']}", json={"name": "Acme Inc"}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["slug"], body["name"], body["version"]) == ("acme", "Acme Inc", 2)
    assert response.headers["etag"] == '"2"'
    assert body["updated_at"] > created["updated_at"]
    rows = await db.rows("SELECT slug, name, version FROM organizations")
    assert rows == [{"slug": "acme", "name": "Acme Inc", "version": 2}]


async def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create_organization(client, name="Acme")

    response = await client.patch(
        f"{ORGANIZATIONS}/{created['id']}", json={"name": "Other"}, headers={"If-Match": '"7"'}
    )

    assert_problem(response, 412, "precondition-failed")
    assert await db.scalar("SELECT name FROM organizations") == "Acme"


async def test_patch_to_a_taken_slug_is_409(client: httpx.AsyncClient) -> None:
    await create_organization(client, slug="acme")
    other = await create_organization(client, slug="other")

    response = await client.patch(f"{ORGANIZATIONS}/{other['id']}", json={"slug": "Acme"})

    assert assert_problem(response, 409, "conflict")["conflicting_field"] == "slug"


@pytest.mark.parametrize("body", [{}, {"name": None}, {"slug": "x"}, {"version": 3}])
async def test_an_invalid_patch_is_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    created = await create_organization(client)

    response = await client.patch(f"{ORGANIZATIONS}/{created['id']}", json=body)

    assert_problem(response, 422, "validation-failed")


async def test_patch_of_an_unknown_organization_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{ORGANIZATIONS}/5", json={"name": "x"})

    assert assert_problem(response, 404, "not-found")["missing"] == "organization"


async def test_delete_removes_the_organization_and_honours_if_match(
    client: httpx.AsyncClient, db: Database
) -> None:
    created = await create_organization(client)
    path = f"{ORGANIZATIONS}/{created['id']}"

    stale = await client.delete(path, headers={"If-Match": '"2"'})
    deleted = await client.delete(path, headers={"If-Match": '"1"'})
    again = await client.delete(path)

    assert_problem(stale, 412, "precondition-failed")
    assert deleted.status_code == 204
    assert assert_problem(again, 404, "not-found")["missing"] == "organization"
    assert await db.scalar("SELECT count(*) FROM organizations") == 0


async def test_list_walks_every_order_with_slug_prefix(client: httpx.AsyncClient) -> None:
    for slug in ("acme", "acme-labs", "acme_x".replace("_", "-") + "2", "beta"):
        await create_organization(client, slug=slug)

    for order, expected in [
        ("id", ["acme", "acme-labs", "acme-x2"]),
        ("-id", ["acme-x2", "acme-labs", "acme"]),
        ("created_at", ["acme", "acme-labs", "acme-x2"]),
        ("-created_at", ["acme-x2", "acme-labs", "acme"]),
    ]:
        seen: list[str] = []
        cursor = None
        while True:
            params = {"order": order, "slug_prefix": "ACME", "limit": "2"}
            if cursor is not None:
                params["cursor"] = cursor
            response = await client.get(ORGANIZATIONS, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen += [item["slug"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, order


async def test_a_cursor_of_another_filter_is_422(client: httpx.AsyncClient) -> None:
    for slug in ("aa", "ab", "ac"):
        await create_organization(client, slug=slug)
    first = (await client.get(ORGANIZATIONS, params={"limit": "1"})).json()

    response = await client.get(
        ORGANIZATIONS, params={"limit": "1", "cursor": first["next_cursor"], "slug_prefix": "a"}
    )

    assert_problem(response, 422, "validation-failed")


async def test_an_unknown_list_parameter_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get(ORGANIZATIONS, params={"slug_prefx": "a"})

    assert_problem(response, 422, "validation-failed")


async def test_timestamps_are_rfc3339_utc(client: httpx.AsyncClient) -> None:
    created = await create_organization(client)
    listed = (await client.get(ORGANIZATIONS)).json()["items"][0]

    assert listed == created
    assert created["created_at"].endswith("Z")
