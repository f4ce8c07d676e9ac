"""Conventions every route shares: problem+json errors, request ids, methods and routes."""

import re

import httpx
import pytest

from db_postgres_service.core.table_repository import TableRepository

from .helpers import assert_problem, create


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")

    assert_problem(response, 404, "not-found")


async def test_a_wrong_method_is_405_with_every_allowed_method(client: httpx.AsyncClient) -> None:
    created = await create(client)

    response = await client.put(f"/api/v1/users/{created['id']}", json={})

    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET, HEAD, PATCH, DELETE"


async def test_a_wrong_method_on_the_collection_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/users")

    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["allow"].split(", ")


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/users/batch", "/api/v1/users/authenticate"])
async def test_a_wrong_method_on_a_post_only_route_is_405_not_a_bad_user_id(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={})

    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "POST"


async def test_a_user_id_that_is_not_an_integer_is_still_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/batches")

    body = assert_problem(response, 422, "validation-failed")
    assert body["errors"][0]["loc"] == ["path", "user_id"]


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc.DEF-123:xyz_9"})

    assert response.headers["x-request-id"] == "abc.DEF-123:xyz_9"


@pytest.mark.parametrize("sent", ["", "has space", "x" * 129, "semi;colon", "ümlaut"])
async def test_an_insane_request_id_is_replaced_by_a_uuid(
    client: httpx.AsyncClient, sent: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": sent.encode()})

    returned = response.headers["x-request-id"]
    assert returned != sent
    assert len(returned) == 36
    assert returned.count("-") == 4


async def test_an_error_body_carries_the_callers_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/users/1", headers={"X-Request-ID": "trace-42"})

    problem = assert_problem(response, 404, "not-found")
    assert problem["request_id"] == "trace-42"


async def test_the_openapi_document_declares_problem_responses(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    create_op = response.json()["paths"]["/api/v1/users"]["post"]
    assert {"201", "409", "422"} <= set(create_op["responses"])
    assert "application/problem+json" in create_op["responses"]["409"]["content"]


# One request per kind of answer a caller can get, from the contract's list of status codes.
PROBLEMS = [
    ("GET", "/api/v1/nothing-here", {}, None),
    ("DELETE", "/api/v1/users", {}, None),
    ("POST", "/api/v1/users", {"Content-Type": "application/json"}, b"{"),
    ("POST", "/api/v1/users", {"Content-Type": "text/plain"}, b"x"),
    ("POST", "/api/v1/users", {"Content-Type": "application/json"}, b"{}"),
    ("DELETE", "/api/v1/users/1", {"If-Match": "1"}, None),
    ("DELETE", "/api/v1/users/1", {"If-Match": '"1"'}, None),
    ("GET", "/api/v1/users/1", {"Authorization": "Bearer nope"}, None),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), PROBLEMS)
async def test_every_problem_type_sent_is_listed_in_the_document(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> None:
    listed = (await client.get("/openapi.json")).json()["components"]["schemas"]["Problem"]
    types = listed["properties"]["type"]["description"]

    response = await client.request(method, path, headers=headers, content=body)

    assert response.headers["content-type"] == "application/problem+json"
    assert f"`{response.json()['type']}`" in types


async def test_a_resource_s_own_problem_types_are_listed(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/openapi.json")).json()["components"]["schemas"]["Problem"]
    types = listed["properties"]["type"]["description"]

    assert "`https://db-postgres-service/problems/owner-required`: Owner required" in types


async def test_every_operation_id_is_the_endpoint_s_name_and_unique(
    client: httpx.AsyncClient,
) -> None:
    """What a client generator names its methods after: `get_user_by_username`, not FastAPI's
    default with the path and method appended."""
    paths = (await client.get("/openapi.json")).json()["paths"]

    ids = {
        (method.upper(), path): operation["operationId"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }

    assert ids[("GET", "/api/v1/users/by_username/{username}")] == "get_user_by_username"
    assert ids[("PUT", "/api/v1/organizations/{organization_id}/members/{user_id}")] == (
        "put_membership"
    )
    assert all(re.fullmatch(r"[a-z][a-z_]*[a-z]", name) for name in ids.values()), ids
    assert len(set(ids.values())) == len(ids)


async def test_the_interactive_docs_are_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


@pytest.mark.parametrize(
    ("method", "path", "broken"),
    [
        # Served in front of FastAPI (api/hot_paths.py).
        ("GET", "/api/v1/users/1", "get"),
        # Served by FastAPI's route.
        ("DELETE", "/api/v1/users/1", "delete"),
    ],
)
async def test_a_genuine_bug_is_a_500_problem_on_every_path_and_is_logged(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    broken: str,
) -> None:
    async def bug(*_: object) -> None:
        raise RuntimeError("a bug, with a secret in its message")

    monkeypatch.setattr(TableRepository, broken, bug)

    response = await client.request(method, path, headers={"X-Request-ID": "bug-1"})

    problem = assert_problem(response, 500, "internal")
    assert problem["request_id"] == "bug-1"
    assert "secret" not in response.text
    assert any(record.message == "unhandled error" and record.exc_info for record in caplog.records)
