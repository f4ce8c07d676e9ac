"""The declaration: every route of projects comes from it."""

from typing import Annotated

from pydantic import Field

from db_postgres_service.api.standard import Equal, Lookup, Prefix, StandardResource
from db_postgres_service.api.standard_routes import serve
from db_postgres_service.organizations.models import Organization

from .models import Project

Key = Annotated[
    str, Field(min_length=2, max_length=10, pattern=r"^[a-z][a-z0-9]*$", examples=["web"])
]
Name = Annotated[str, Field(min_length=1, max_length=200, examples=["Website"])]

PROJECTS = serve(
    StandardResource(
        Project,
        read_scope="projects:read",
        write_scope="projects:write",
        fields={"key": Key, "name": Name, "archived": bool},
        parent=Organization,
        lookups=(Lookup("key"),),
        filters=(Equal("archived"), Prefix("key")),
        create_examples={
            "web": {"summary": "A project", "value": {"key": "web", "name": "Website"}}
        },
        update_examples={"archive": {"summary": "Archive it", "value": {"archived": True}}},
    )
)
