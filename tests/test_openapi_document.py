"""What /openapi.json says of itself and of each operation, derived from the app's routes."""

import tomllib
from importlib import metadata
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute

from db_postgres_service.api.route_table import RouteTable

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


async def test_every_operation_says_in_its_description_the_scope_it_needs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/openapi.json")).json()
    declared = {
        (endpoint.route.path_format, method.lower()): endpoint.required_scope
        for endpoint in RouteTable(app.routes).endpoints
        if isinstance(endpoint.route, APIRoute) and endpoint.route.include_in_schema
        for method in endpoint.route.methods
    }

    described = {
        (path, method): operation.get("description", "")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }

    assert set(described) == set(declared)
    assert any(scope is not None for scope in declared.values())
    for operation, scope in declared.items():
        if scope is None:
            assert "Requires scope" not in described[operation], operation
        else:
            assert described[operation].endswith(f"Requires scope `{scope}`."), operation
            assert described[operation].count("Requires scope") == 1, operation


async def test_the_document_s_version_is_the_package_s(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    version = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert document["info"]["version"] == metadata.version("db-postgres-service") == version
