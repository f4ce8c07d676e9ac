"""The client cannot fall behind the API: every operation of the service's /openapi.json has a
method on both clients, and every model has the fields of the schema it mirrors.

Both lists come from the document the service serves, never from a list typed here.
"""

import inspect
import re
from functools import cache
from typing import Any

import pytest
from pydantic import BaseModel

from db_postgres_service.core.config import Settings
from db_postgres_service.main import create_app
from db_postgres_service_client import AsyncClient, Client, Event, Membership, Organization, User
from db_postgres_service_client._calls import API_PREFIX, Endpoint

RESOURCES = ("users", "organizations", "memberships", "events")
MODELS: tuple[type[BaseModel], ...] = (User, Organization, Membership, Event)
# Arguments of a create that are the client's, not fields of the body.
CLIENT_ARGUMENTS = {"idempotency_key", "request_id"}


@cache
def document() -> dict[str, Any]:
    served: dict[str, Any] = create_app(Settings()).openapi()
    return served


def api_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the API by (method, path with `{}` for each parameter)."""
    return {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path.removeprefix(API_PREFIX))): operation
        for path, operations in document()["paths"].items()
        if path.startswith(API_PREFIX + "/")
        for method, operation in operations.items()
    }


def clients() -> tuple[Client, AsyncClient]:
    return Client("http://unused", "unused"), AsyncClient("http://unused", "unused")


def client_endpoints() -> dict[tuple[str, str], tuple[str, str]]:
    """Every operation the client calls: (method, path) -> (resource, method name)."""
    sync, _ = clients()
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for resource in RESOURCES:
        endpoints: dict[str, Endpoint] = dict(getattr(sync, resource).endpoints)
        for name, endpoint in endpoints.items():
            found[(endpoint.method, endpoint.template)] = (resource, name)
    return found


def test_every_operation_of_the_document_has_a_client_method() -> None:
    missing = {
        f"{method} {path} ({operation['operationId']})"
        for (method, path), operation in api_operations().items()
        if (method, path) not in client_endpoints()
    }

    assert not missing, f"operations without a client method: {sorted(missing)}"


def test_the_client_calls_no_operation_the_document_lacks() -> None:
    assert set(client_endpoints()) <= set(api_operations())


@pytest.mark.parametrize("resource", RESOURCES)
def test_both_clients_have_each_method_of_each_operation(resource: str) -> None:
    sync, asynchronous = clients()
    names = {name for (res, name) in client_endpoints().values() if res == resource}

    for client in (sync, asynchronous):
        assert all(callable(getattr(getattr(client, resource), name, None)) for name in names)


@pytest.mark.parametrize("resource", RESOURCES)
def test_the_sync_and_async_clients_have_one_surface(resource: str) -> None:
    sync, asynchronous = clients()

    def public(obj: object) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(member).parameters)
            for name, member in inspect.getmembers(obj, callable)
            if not name.startswith("_")
        }

    assert public(getattr(sync, resource)) == public(getattr(asynchronous, resource))


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if reference is None:
        return schema
    resolved: dict[str, Any] = document()["components"]["schemas"][reference.rsplit("/", 1)[1]]
    return resolved


def _shape(schema: dict[str, Any], definitions: dict[str, Any]) -> object:
    """What a field's schema says about its values: JSON type, timestamps and enumerations
    (not titles, examples, lengths or patterns, which the service checks)."""
    reference = schema.get("$ref")
    if reference is not None:
        name = reference.rsplit("/", 1)[1]
        schema = definitions.get(name) or document()["components"]["schemas"][name]
    if "anyOf" in schema:
        return sorted(str(_shape(option, definitions)) for option in schema["anyOf"])
    return (
        schema.get("type"),
        schema.get("format") if schema.get("format") == "date-time" else None,
        sorted(schema.get("enum", [])),
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_each_model_has_the_fields_of_its_schema(model: type[BaseModel]) -> None:
    served = document()["components"]["schemas"][getattr(model, "openapi_schema")]  # noqa: B009
    ours = model.model_json_schema()
    definitions = ours.get("$defs", {})

    assert set(ours["properties"]) == set(served["properties"])
    assert set(ours.get("required", [])) == set(served["required"])
    for field, schema in served["properties"].items():
        assert _shape(ours["properties"][field], definitions) == _shape(schema, {}), field


def test_each_create_takes_the_fields_of_its_body() -> None:
    sync, _ = clients()
    operations = api_operations()
    checked = 0
    for (method, path), (resource, name) in client_endpoints().items():
        body = operations[(method, path)].get("requestBody")
        if name != "create" or body is None:
            continue
        schema = _resolved(body["content"]["application/json"]["schema"])
        parameters = inspect.signature(getattr(getattr(sync, resource), name)).parameters
        keywords = {p for p, spec in parameters.items() if spec.kind is spec.KEYWORD_ONLY}
        assert keywords - CLIENT_ARGUMENTS == set(schema["properties"]), resource
        checked += 1

    assert checked == 2
