"""Every resource the suites cover: the service's own (resources.py) and those declared only
for the tests (tests/resources/), found by looking, never listed by hand."""

import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db_postgres_service.api.resource import Resource
from db_postgres_service.api.route_table import RouteTable
from db_postgres_service.api.standard_routes import ServedResource
from db_postgres_service.main import create_app
from db_postgres_service.models.base import Base
from db_postgres_service.resources import RESOURCES

from . import resources as test_resources


def _test_resource_modules() -> Iterator[Any]:
    for package in pkgutil.iter_modules(test_resources.__path__):
        yield importlib.import_module(f"{test_resources.__name__}.{package.name}.routes")


TEST_RESOURCES: tuple[Resource, ...] = tuple(
    value
    for module in _test_resource_modules()
    for value in vars(module).values()
    if isinstance(value, Resource)
)
ALL_RESOURCES: tuple[Resource, ...] = (*RESOURCES, *TEST_RESOURCES)


def unmigrated_metadata() -> list[MetaData]:
    """The metadata of the test resources' tables, which no migration creates."""
    found: list[MetaData] = []
    for resource in TEST_RESOURCES:
        if resource.standard is None:
            continue
        metadata = resource.standard.declaration.model.metadata
        if metadata is not Base.metadata and all(metadata is not seen for seen in found):
            found.append(metadata)
    return found


async def serve_test_resources(url: str) -> None:
    """Ready a migrated database for ALL_RESOURCES: the test resources' tables, and their
    scopes for the suite's key."""
    scopes = RouteTable(create_app(resources=ALL_RESOURCES).routes).scopes
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            for metadata in unmigrated_metadata():
                await connection.run_sync(metadata.create_all)
            await connection.execute(
                text("UPDATE api_clients SET scopes = :scopes WHERE name = 'tests'"),
                {"scopes": sorted(scopes)},
            )
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Standard:
    """A resource served from a declaration, with the parent it is created under."""

    served: ServedResource
    parent: ServedResource | None

    @property
    def name(self) -> str:
        return self.served.plural

    def unique_fields(self) -> list[str]:
        """The fields a unique index named by the convention (`uq_<table>_<field>`) guards."""
        table = self.served.declaration.table
        prefix = f"uq_{table.name}_"
        return sorted(
            index.name.removeprefix(prefix)
            for index in table.indexes
            if index.unique and index.name is not None and index.name.startswith(prefix)
        )

    def body(self, number: int) -> dict[str, Any]:
        """A valid create body from the first create example, its unique fields made
        distinct by `number`."""
        examples = self.served.declaration.create_examples
        assert examples, f"{self.name} declares no create example"
        body = dict(next(iter(examples.values()))["value"])
        for field in self.unique_fields():
            body[field] = f"c{number}{body[field]}"
        self.served.create_body.model_validate(body)
        return body

    def collection(self, parent_id: int | None) -> str:
        """Where to create and list: under the parent `parent_id` for a nested resource."""
        if self.parent is None:
            return self.served.collection_path
        return self.served.collection_path.format(**{f"{self.parent.noun}_id": parent_id})


def standard_resources() -> list[Standard]:
    served = [resource.standard for resource in ALL_RESOURCES if resource.standard is not None]
    by_noun = {each.noun: each for each in served}
    return [
        Standard(each, by_noun[each.parent_noun] if each.parent_noun else None) for each in served
    ]
