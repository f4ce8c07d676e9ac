"""CONTRACT.md "Every resource", run against every resource served from a declaration: the
service's own and the tests' (tests/registered.py), through HTTP, on both lanes (the fast lane
in front of FastAPI, and FastAPI's routes alone).

Bodies come from each declaration's first create example, with its unique fields prefixed to
make more rows; a nested resource is created under a parent made the same way.
"""

import typing
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from db_postgres_service.api.resource import Resource
from db_postgres_service.api.standard import QueryFilter
from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, make_settings
from .events import changes, events
from .helpers import assert_problem, engine_for, http_client
from .registered import ALL_RESOURCES, Standard, serve_test_resources, standard_resources

STANDARD = standard_resources()
ORDERS = ["id", "-id", "created_at", "-created_at"]
BIGINT_OVERFLOW = 2**63


@dataclass
class Service:
    client: httpx.AsyncClient
    strict: httpx.AsyncClient
    app: FastAPI


@asynccontextmanager
async def serving(
    url: str, resources: Sequence[Resource], *, fast_lane: bool
) -> AsyncIterator[Service]:
    """`resources` served on the migrated database `url`, as they are and with REQUIRE_IF_MATCH."""
    await serve_test_resources(url)
    app = create_app(make_settings(url, fast_lane=fast_lane), resources)
    strict = create_app(make_settings(url, fast_lane=fast_lane, require_if_match=True), resources)
    async with (
        app.router.lifespan_context(app),
        strict.router.lifespan_context(strict),
        http_client(httpx.ASGITransport(app=app)) as client,
        http_client(httpx.ASGITransport(app=strict)) as strict_client,
    ):
        yield Service(client, strict_client, app)


@pytest.fixture(scope="module", params=["fast lane", "FastAPI routes"])
async def service(
    request: pytest.FixtureRequest, databases: ThrowAwayDatabases
) -> AsyncIterator[Service]:
    url = await databases.acreate()
    async with serving(url, ALL_RESOURCES, fast_lane=request.param == "fast lane") as service:
        yield service


@pytest.fixture(autouse=True)
async def _empty(service: Service) -> None:
    tables = {each.served.plural for each in STANDARD} | {"idempotency_keys", "events"}
    async with engine_for(service.app).begin() as connection:
        await connection.execute(
            text(f"TRUNCATE {', '.join(sorted(tables))} RESTART IDENTITY CASCADE")
        )


def _change(resource: Standard) -> dict[str, Any]:
    examples = resource.served.declaration.update_examples
    assert examples, f"{resource.name} declares no update example"
    return dict(next(iter(examples.values()))["value"])


def _item(resource: Standard, row_id: int) -> str:
    return resource.served.item_path.format(**{f"{resource.served.noun}_id": row_id})


async def _collection(
    client: httpx.AsyncClient, resource: Standard, parent_id: int | None = None
) -> str:
    """The path to create and list at: under a fresh parent for a nested resource."""
    if resource.parent is not None and parent_id is None:
        parent = Standard(resource.parent, None)
        response = await client.post(parent.collection(None), json=parent.body(0))
        assert response.status_code == 201, response.text
        parent_id = response.json()["id"]
    return resource.collection(parent_id)


async def _create(
    client: httpx.AsyncClient, resource: Standard, path: str, number: int = 0
) -> dict[str, Any]:
    response = await client.post(path, json=resource.body(number))
    assert response.status_code == 201, response.text
    row: dict[str, Any] = response.json()
    return row


async def _count(service: Service, resource: Standard) -> int:
    async with engine_for(service.app).connect() as connection:
        # The table's name is the declaration's own, never a request's.
        count_rows = f"SELECT count(*) FROM {resource.served.plural}"  # noqa: S608
        result = await connection.execute(text(count_rows))
        count: int = result.scalar_one()
        return count


def each_resource() -> Any:
    return pytest.mark.parametrize("resource", STANDARD, ids=[each.name for each in STANDARD])


def test_every_declared_resource_is_covered() -> None:
    declared = {resource.standard.plural for resource in ALL_RESOURCES if resource.standard}
    assert {"users", "organizations", "projects"} <= declared
    assert {each.name for each in STANDARD} == declared


@each_resource()
async def test_a_create_is_201_with_location_and_etag_and_stores_the_row(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)

    response = await service.client.post(path, json=resource.body(0))

    assert response.status_code == 201, response.text
    row = response.json()
    assert response.headers["location"] == _item(resource, row["id"])
    assert response.headers["etag"] == '"1"'
    assert row["version"] == 1
    assert set(row) == set(resource.served.out.model_fields)
    assert await _count(service, resource) == 1


@each_resource()
async def test_a_get_by_id_answers_the_row_with_its_etag_and_304_for_a_current_copy(
    service: Service, resource: Standard
) -> None:
    row = await _create(service.client, resource, await _collection(service.client, resource))

    found = await service.client.get(_item(resource, row["id"]))
    current = await service.client.get(_item(resource, row["id"]), headers={"If-None-Match": '"1"'})

    assert found.status_code == 200
    assert found.json() == row
    assert found.headers["etag"] == '"1"'
    assert current.status_code == 304
    assert current.headers["etag"] == '"1"'
    assert current.content == b""


@each_resource()
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("row_id", [987654, BIGINT_OVERFLOW])
async def test_an_unknown_id_is_404_naming_the_resource(
    service: Service, resource: Standard, method: str, row_id: int
) -> None:
    body = _change(resource) if method == "PATCH" else None

    response = await service.client.request(method, _item(resource, row_id), json=body)

    assert assert_problem(response, 404, "not-found")["missing"] == resource.served.noun


@each_resource()
async def test_every_lookup_finds_the_row_and_an_unknown_value_is_404(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    row = await _create(service.client, resource, path)

    for lookup in resource.served.declaration.lookups:
        found = await service.client.get(f"{path}/by_{lookup.field}/{row[lookup.field]}")
        unknown = await service.client.get(f"{path}/by_{lookup.field}/nothing{row[lookup.field]}")

        assert found.status_code == 200, found.text
        assert found.json() == row
        assert found.headers["etag"] == '"1"'
        assert assert_problem(unknown, 404, "not-found")["missing"] == resource.served.noun


@each_resource()
async def test_a_create_retried_with_its_idempotency_key_is_replayed_and_stored_once(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    headers = {"Idempotency-Key": "conformance-1"}

    first = await service.client.post(path, json=resource.body(0), headers=headers)
    again = await service.client.post(path, json=resource.body(0), headers=headers)
    other = await service.client.post(path, json=resource.body(1), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert_problem(other, 422, "validation-failed")
    assert await _count(service, resource) == 1


@each_resource()
async def test_a_taken_unique_field_is_409_naming_it_and_stores_nothing(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    first = await _create(service.client, resource, path)

    for field in resource.unique_fields():
        body = {**resource.body(1), field: first[field]}
        response = await service.client.post(path, json=body)

        assert assert_problem(response, 409, "conflict")["conflicting_field"] == field
    assert await _count(service, resource) == 1


@each_resource()
async def test_an_unknown_body_field_is_422_and_creates_nothing(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)

    response = await service.client.post(path, json={**resource.body(0), "version": 3})

    assert_problem(response, 422, "validation-failed")
    assert await _count(service, resource) == 0


@each_resource()
async def test_a_patch_with_the_current_if_match_applies_and_bumps_the_version(
    service: Service, resource: Standard
) -> None:
    row = await _create(service.client, resource, await _collection(service.client, resource))

    response = await service.client.patch(
        _item(resource, row["id"]), json=_change(resource), headers={"If-Match": '"1"'}
    )

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    changed = response.json()
    assert changed["version"] == 2
    assert changed["updated_at"] > row["updated_at"]
    assert (await service.client.get(_item(resource, row["id"]))).json() == changed


@each_resource()
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_stale_if_match_is_412_and_changes_nothing(
    service: Service, resource: Standard, method: str
) -> None:
    row = await _create(service.client, resource, await _collection(service.client, resource))
    body = _change(resource) if method == "PATCH" else None

    response = await service.client.request(
        method, _item(resource, row["id"]), json=body, headers={"If-Match": '"7"'}
    )

    assert_problem(response, 412, "precondition-failed")
    assert (await service.client.get(_item(resource, row["id"]))).json() == row


@each_resource()
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_write_without_if_match_is_428_when_it_is_required(
    service: Service, resource: Standard, method: str
) -> None:
    row = await _create(service.client, resource, await _collection(service.client, resource))
    body = _change(resource) if method == "PATCH" else None

    response = await service.strict.request(method, _item(resource, row["id"]), json=body)

    assert_problem(response, 428, "precondition-required")
    assert (await service.client.get(_item(resource, row["id"]))).json() == row


@each_resource()
async def test_a_delete_removes_the_row(service: Service, resource: Standard) -> None:
    row = await _create(service.client, resource, await _collection(service.client, resource))

    response = await service.client.delete(_item(resource, row["id"]), headers={"If-Match": '"1"'})

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await service.client.get(_item(resource, row["id"])), 404, "not-found")
    assert await _count(service, resource) == 0


@each_resource()
@pytest.mark.parametrize("order", ORDERS)
async def test_keyset_pages_return_every_row_once_in_the_order_asked(
    service: Service, resource: Standard, order: str
) -> None:
    path = await _collection(service.client, resource)
    rows = [await _create(service.client, resource, path, number) for number in range(3)]
    key = "created_at" if order.endswith("created_at") else "id"
    expected = [
        row["id"]
        for row in sorted(
            rows, key=lambda row: (row[key], row["id"]), reverse=order.startswith("-")
        )
    ]

    seen: list[int] = []
    params: dict[str, Any] = {"limit": 1, "order": order}
    for _ in range(4):
        page = (await service.client.get(path, params=params)).json()
        seen.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert seen == expected


def _sample(query_filter: QueryFilter) -> str:
    """A value the filter's parameter accepts."""
    accepted = typing.get_args(
        typing.get_args(query_filter.annotation)[0]
        if typing.get_origin(query_filter.annotation) is typing.Annotated
        else query_filter.annotation
    )
    if bool in accepted:
        return "true"
    if str in accepted:
        return "c"
    return "2020-01-01T00:00:00Z"


@each_resource()
async def test_a_cursor_is_refused_for_another_order_or_other_filters(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    for number in range(2):
        await _create(service.client, resource, path, number)
    cursor = (await service.client.get(path, params={"limit": 1})).json()["next_cursor"]

    reordered = await service.client.get(
        path, params={"limit": 1, "order": "-id", "cursor": cursor}
    )
    refused = [reordered]
    for query_filter in resource.served.reads.query_filters:
        params = {"limit": 1, "cursor": cursor, query_filter.name: _sample(query_filter)}
        refused.append(await service.client.get(path, params=params))

    for response in refused:
        problem = assert_problem(response, 422, "validation-failed")
        assert problem["errors"][0]["loc"] == ["query", "cursor"]


@each_resource()
async def test_a_forged_cursor_is_422(service: Service, resource: Standard) -> None:
    path = await _collection(service.client, resource)

    response = await service.client.get(path, params={"cursor": "eyJvIjoiaWQifQ.AAAA"})

    assert_problem(response, 422, "validation-failed")


@each_resource()
async def test_an_unknown_query_parameter_is_422(service: Service, resource: Standard) -> None:
    path = await _collection(service.client, resource)

    response = await service.client.get(path, params={"limitt": 1})

    assert assert_problem(response, 422, "validation-failed")["errors"] == [
        {"loc": ["query", "limitt"], "msg": "unknown query parameter"}
    ]


NESTED = [each for each in STANDARD if each.parent is not None]


@pytest.mark.parametrize("resource", NESTED, ids=[each.name for each in NESTED])
@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("parent_id", [987654, BIGINT_OVERFLOW])
async def test_a_nested_create_or_list_under_an_unknown_parent_is_404_naming_it(
    service: Service, resource: Standard, method: str, parent_id: int
) -> None:
    path = await _collection(service.client, resource, parent_id)
    body = resource.body(0) if method == "POST" else None

    response = await service.client.request(method, path, json=body)

    assert resource.parent is not None
    assert assert_problem(response, 404, "not-found")["missing"] == resource.parent.noun
    assert await _count(service, resource) == 0


# --- the change feed ------------------------------------------------------------------------------


def _subject(resource: Standard, row_id: int) -> str:
    return f"{resource.served.plural}/{row_id}"


@each_resource()
async def test_create_patch_and_delete_each_report_the_row_as_the_response_showed_it(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    created = await _create(service.client, resource, path)
    item = _item(resource, created["id"])
    changed = (await service.client.patch(item, json=_change(resource))).json()
    before = len(await events(service.client))

    await service.client.delete(item)

    subject = _subject(resource, created["id"])
    noun = resource.served.noun
    found = [event for event in await events(service.client) if event["subject"] == subject]
    assert [(event["type"], event["data"]) for event in found] == [
        (f"{noun}.created", created),
        (f"{noun}.updated", changed),
        (f"{noun}.deleted", changed),
    ]
    assert len(await events(service.client)) == before + 1


@each_resource()
async def test_a_refused_write_reports_nothing(service: Service, resource: Standard) -> None:
    path = await _collection(service.client, resource)
    row = await _create(service.client, resource, path)
    item = _item(resource, row["id"])
    before = await events(service.client)
    stale = {"If-Match": '"7"'}

    refused = [
        await service.client.patch(item, json=_change(resource), headers=stale),
        await service.client.delete(item, headers=stale),
    ]
    if resource.unique_fields():
        refused.append(await service.client.post(path, json=resource.body(0)))

    assert [response.status_code for response in refused] == [412, 412, 409][: len(refused)]
    assert await events(service.client) == before


@each_resource()
async def test_an_idempotent_replay_reports_nothing_more(
    service: Service, resource: Standard
) -> None:
    path = await _collection(service.client, resource)
    before = len(await events(service.client))
    headers = {"Idempotency-Key": "once"}

    first = await service.client.post(path, json=resource.body(0), headers=headers)
    await service.client.post(path, json=resource.body(0), headers=headers)

    assert changes((await events(service.client))[before:]) == [
        (f"{resource.served.noun}.created", _subject(resource, first.json()["id"]))
    ]


@pytest.mark.parametrize("resource", NESTED, ids=[each.name for each in NESTED])
async def test_deleting_a_parent_reports_each_child_it_removes(
    service: Service, resource: Standard
) -> None:
    assert resource.parent is not None
    parent = Standard(resource.parent, None)
    parent_row = await _create(service.client, parent, parent.collection(None))
    path = resource.collection(parent_row["id"])
    children = [await _create(service.client, resource, path, number) for number in range(2)]
    before = len(await events(service.client))

    response = await service.client.delete(_item(parent, parent_row["id"]))

    assert response.status_code == 204
    reported = changes((await events(service.client))[before:])
    noun = resource.served.noun
    assert sorted(reported) == sorted(
        [(f"{noun}.deleted", _subject(resource, child["id"])) for child in children]
        + [(f"{parent.served.noun}.deleted", _subject(parent, parent_row["id"]))]
    )
    assert await _count(service, resource) == 0
