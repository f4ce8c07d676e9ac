"""Every request example of /openapi.json does what it documents, sent to empty tables.

The examples are what /docs fills in: a newcomer who presses Execute on each, in this order,
gets the documented success every time.
"""

from graphlib import TopologicalSorter
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from .events import replay_mismatches
from .helpers import asyncpg_dsn, service_tables

Operation = tuple[str, str]


def _with_body(document: dict[str, Any]) -> set[Operation]:
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _under(path: str, prefix: str) -> bool:
    """Whether `prefix` is `path` cut short by whole segments (`/users` of `/users/{id}`)."""
    inner, outer = _segments(path), _segments(prefix)
    return len(outer) < len(inner) and inner[: len(outer)] == outer


def sending_order(document: dict[str, Any]) -> list[Operation]:
    """Every operation with a body, each after those it needs:
    - those on a shorter form of its path: a collection's create before its items' changes and
      its other actions (`/users` before `/users/authenticate`), a parent before its children;
    - for each parameter of its path, the create of the collection whose items that parameter
      names in some path (`{user_id}` of `/users/{user_id}`: `POST /users`);
    - for each table its path names, the creates of the tables that table refers to by a
      foreign key (a parent given in the body rather than the path).
    Of the operations whose needs are all sent, POSTs go first, then by path. A cycle fails."""
    operations = _with_body(document)
    creates = {path: ("post", path) for method, path in operations if method == "post"}
    creators: dict[str, set[Operation]] = {}
    for path in document["paths"]:
        segments = _segments(path)
        for index, segment in enumerate(segments):
            collection = "/" + "/".join(segments[:index])
            if segment.startswith("{") and collection in creates:
                creators.setdefault(segment, set()).add(creates[collection])
    tables = {table.name: table for table in service_tables()}
    # A collection named after a table creates that table's rows.
    creates_of_table = {path.rsplit("/", 1)[1]: create for path, create in creates.items()}

    graph: dict[Operation, set[Operation]] = {}
    for method, path in operations:
        needs = {other for other in operations if _under(path, other[1])}
        for segment in _segments(path):
            needs |= creators.get(segment, set())
            if segment in tables:
                referred = {key.column.table.name for key in tables[segment].foreign_keys}
                needs |= {creates_of_table[name] for name in referred if name in creates_of_table}
        graph[(method, path)] = needs - {(method, path)}

    order: list[Operation] = []
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    while sorter.is_active():
        ready = sorted(
            sorter.get_ready(), key=lambda operation: (operation[0] != "post", operation[1])
        )
        order.extend(ready)
        sorter.done(*ready)
    return order


def _path_of(template: str, operation: dict[str, Any]) -> str:
    path = template
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            (example,) = parameter["schema"]["examples"][:1]
            path = path.replace("{" + parameter["name"] + "}", str(example))
    return path


async def test_every_operation_with_a_body_documents_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    order = sending_order(document)

    assert sorted(order) == sorted(_with_body(document))
    for method, path in order:
        content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert content["examples"], (method, path)


async def test_the_order_sends_what_a_path_needs_first(client: httpx.AsyncClient) -> None:
    """The derived order, on the routes of today's resources."""
    order = sending_order((await client.get("/openapi.json")).json())
    position = {operation: index for index, operation in enumerate(order)}

    create_user, create_organization = ("post", "/api/v1/users"), ("post", "/api/v1/organizations")
    for user_needs in ("/api/v1/users/batch", "/api/v1/users/authenticate"):
        assert position[create_user] < position[("post", user_needs)]
    assert position[create_user] < position[("patch", "/api/v1/users/{user_id}")]
    assert (
        position[create_organization]
        < position[("patch", "/api/v1/organizations/{organization_id}")]
    )
    membership = position[("put", "/api/v1/organizations/{organization_id}/members/{user_id}")]
    assert position[create_user] < membership
    assert position[create_organization] < membership


async def test_every_request_example_gets_its_documented_success(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    for method, template in sending_order(document):
        operation = document["paths"][template][method]
        successes = {int(status) for status in operation["responses"] if status.startswith("2")}
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        for name, example in examples.items():
            response = await client.request(
                method, _path_of(template, operation), json=example["value"]
            )

            assert response.status_code in successes, (template, name, response.text)


def _writes(document: dict[str, Any]) -> set[Operation]:
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"post", "put", "patch", "delete"} and path.startswith("/api/v1/")
    }


async def test_every_write_route_walked_with_its_examples_reports_each_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Each write route of the route table, sent its examples (bodies in the order above,
    then the deletes, children first), leaves the change feed replaying to the tables: a
    route that commits a change without its event fails here, whoever adds it."""
    document = (await client.get("/openapi.json")).json()
    deletes = sorted(
        (operation for operation in _writes(document) if operation[0] == "delete"),
        key=lambda operation: -len(_segments(operation[1])),
    )
    walk = [*sending_order(document), *deletes]
    connection = await asyncpg.connect(asyncpg_dsn(app.state.settings.database_url))
    try:
        for method, template in walk:
            operation = document["paths"][template][method]
            successes = {int(status) for status in operation["responses"] if status[0] == "2"}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            for example in body["examples"].values() if body else [{"value": None}]:
                response = await client.request(
                    method, _path_of(template, operation), json=example["value"]
                )

                assert response.status_code in successes, (method, template, response.text)
                assert await replay_mismatches(connection, app.state.outbox) == [], template
    finally:
        await connection.close()

    assert {(method, path) for method, path in walk} == _writes(document)
