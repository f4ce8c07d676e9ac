"""Every resource the suites cover: the service's own (resources.py) and those declared only
for the tests (tests/resources/), found by looking, never listed by hand."""

import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData

from db_postgres_service.api.resource import Resource
from db_postgres_service.api.standard_routes import ServedResource
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


@dataclass(frozen=True)
class Standard:
    """A resource served from a declaration, with the parent it is created under."""

    served: ServedResource
    parent: ServedResource | None

    @property
    def name(self) -> str:
        return self.served.plural


def standard_resources() -> list[Standard]:
    served = [resource.standard for resource in ALL_RESOURCES if resource.standard is not None]
    by_noun = {each.noun: each for each in served}
    return [
        Standard(each, by_noun[each.parent_noun] if each.parent_noun else None) for each in served
    ]
