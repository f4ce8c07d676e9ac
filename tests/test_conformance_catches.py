"""The conformance suite fails for a resource that breaks a promise: here projects whose PATCH
was written by hand to ignore If-Match, served in front of the declared one. A suite that
passed it would prove nothing about the resources it passes."""

from typing import Annotated

import pytest
from fastapi import APIRouter, Body, Request, Response

from db_postgres_service.api.rendering import rendered
from db_postgres_service.api.resource import Resource
from db_postgres_service.api.responses import resource_response
from db_postgres_service.api.routing import StrictRoute
from db_postgres_service.api.scopes import requires
from db_postgres_service.core.table_repository import TableRepository
from db_postgres_service.organizations.routes import ORGANIZATIONS
from db_postgres_service.resources import RESOURCES

from . import test_conformance as conformance
from .conftest import ThrowAwayDatabases
from .registered import Standard
from .resources.projects.routes import PROJECTS


def _ignoring_if_match(declared: Resource) -> Resource:
    """The resource with a PATCH that applies whatever version the row has."""
    served = declared.standard
    assert served is not None
    router = APIRouter(route_class=StrictRoute)

    @router.patch(
        served.item_path,
        dependencies=[requires(served.declaration.write_scope)],
    )
    async def update_project(
        project_id: int,
        body: Annotated[served.update_body, Body()],  # type: ignore[name-defined]
        request: Request,
    ) -> Response:
        async with request.app.state.statement_pool.connection() as db:
            row = await TableRepository(served.reads.table, db).update(
                project_id, body.model_dump(), None
            )
        return resource_response(rendered(row), request)

    router.routes.extend(declared.router.routes)
    return Resource(
        router,
        hot_reads=declared.hot_reads,
        hot_pages=declared.hot_pages,
        hot_creates=declared.hot_creates,
        standard=served,
    )


@pytest.mark.parametrize("fast_lane", [True, False], ids=["fast lane", "FastAPI routes"])
async def test_the_suite_fails_a_patch_that_ignores_if_match(
    databases: ThrowAwayDatabases, fast_lane: bool
) -> None:
    broken = _ignoring_if_match(PROJECTS)
    assert PROJECTS.standard is not None
    assert ORGANIZATIONS.standard is not None
    projects = Standard(PROJECTS.standard, ORGANIZATIONS.standard)
    url = await databases.acreate()

    async with conformance.serving(url, (*RESOURCES, broken), fast_lane=fast_lane) as service:
        await conformance.test_a_patch_with_the_current_if_match_applies_and_bumps_the_version(
            service, projects
        )
        with pytest.raises(AssertionError):
            await conformance.test_a_stale_if_match_is_412_and_changes_nothing(
                service, projects, "PATCH"
            )
