"""GET /api/v1/users/{id} and /by_username/{username}, as CONTRACT.md words them."""

import httpx
import pytest

from .helpers import assert_problem, create


async def test_get_by_id_answers_the_user_with_its_etag(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice")

    response = await client.get(f"/api/v1/users/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-type"] == "application/json"


async def test_get_by_id_answers_with_a_trailing_slash_too(client: httpx.AsyncClient) -> None:
    created = await create(client)

    response = await client.get(f"/api/v1/users/{created['id']}/")

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', '"7", "1"', "*"])
async def test_get_by_id_answers_304_when_if_none_match_has_the_current_tag(
    client: httpx.AsyncClient, header: str
) -> None:
    created = await create(client)

    response = await client.get(f"/api/v1/users/{created['id']}", headers={"If-None-Match": header})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == '"1"'


async def test_get_by_id_answers_200_when_if_none_match_has_another_tag(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)

    response = await client.get(
        f"/api/v1/users/{created['id']}", headers={"If-None-Match": '"2", W/"3"'}
    )

    assert response.status_code == 200
    assert response.json() == created


async def test_get_by_id_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/424242")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("user_id", ["0", "-5", "99999999999999999999999"])
async def test_get_by_id_of_an_integer_no_user_can_have_is_404(
    client: httpx.AsyncClient, user_id: str
) -> None:
    response = await client.get(f"/api/v1/users/{user_id}")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize("user_id", ["abc", "1.5", "1e3"])
async def test_get_by_id_with_a_non_integer_id_is_422(
    client: httpx.AsyncClient, user_id: str
) -> None:
    response = await client.get(f"/api/v1/users/{user_id}")

    problem = assert_problem(response, 422, "validation-failed")
    assert [error["loc"] for error in problem["errors"]] == [["path", "user_id"]]


async def test_get_by_username_matches_case_insensitively(client: httpx.AsyncClient) -> None:
    created = await create(client, name="alice", username="Alice.Smith")

    response = await client.get("/api/v1/users/by_username/aLICE.sMITH")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["etag"] == '"1"'


async def test_get_by_username_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    await create(client, name="alice")

    response = await client.get("/api/v1/users/by_username/bob")

    assert_problem(response, 404, "not-found")


async def test_get_by_username_treats_like_wildcards_as_plain_characters(
    client: httpx.AsyncClient,
) -> None:
    await create(client, name="alice")

    response = await client.get("/api/v1/users/by_username/al%25")

    assert_problem(response, 404, "not-found")


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    created = await create(client)
    get = await client.get(f"/api/v1/users/{created['id']}")

    response = await client.head(f"/api/v1/users/{created['id']}")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"] == '"1"'
    assert response.headers["content-length"] == get.headers["content-length"]


async def test_a_nul_character_in_a_username_lookup_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/by_username/al%00ice")

    assert_problem(response, 404, "not-found")


# Plain reads are answered in front of FastAPI (api/hot_reads.py); these spellings of the same
# id are not plain, so FastAPI's route answers them. Both must say exactly the same.
@pytest.mark.parametrize("spelling", ["00{id}", "+{id}"])
@pytest.mark.parametrize("if_none_match", [None, '"1"'])
async def test_an_id_fastapi_parses_is_answered_exactly_like_the_plain_one(
    client: httpx.AsyncClient, spelling: str, if_none_match: str | None
) -> None:
    created = await create(client)
    headers = {"If-None-Match": if_none_match} if if_none_match else {}

    plain = await client.get(f"/api/v1/users/{created['id']}", headers=headers)
    parsed = await client.get(f"/api/v1/users/{spelling.format(id=created['id'])}", headers=headers)

    assert parsed.status_code == plain.status_code == (304 if if_none_match else 200)
    assert parsed.content == plain.content
    assert without_request_id(parsed.headers) == without_request_id(plain.headers)


async def test_an_unknown_id_fastapi_parses_is_the_same_404_as_the_plain_one(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/api/v1/users/424242")
    parsed = await client.get("/api/v1/users/0424242")

    assert_problem(plain, 404, "not-found")
    assert {**parsed.json(), "request_id": ""} == {**plain.json(), "request_id": ""}
    assert without_request_id(parsed.headers) == without_request_id(plain.headers)


def without_request_id(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "x-request-id"}
