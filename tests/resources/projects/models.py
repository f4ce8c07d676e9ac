"""The projects table. On a metadata of its own: the service's migrations never create it."""

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db_postgres_service.models.base import NAMING_CONVENTION, Versioned, unique_name
from db_postgres_service.organizations.models import Organization


class ProjectsBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Versioned, ProjectsBase):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey(Organization.id, ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    archived: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (
        # A key is unique within its organization: a duplicate is 409 `conflicting_field: key`.
        Index(unique_name("projects", "key"), "organization_id", "key", unique=True),
        # An organization's projects in every order of its list.
        Index("ix_projects_organization_id_id", "organization_id", "id"),
        Index("ix_projects_organization_id_created_at_id", "organization_id", "created_at", "id"),
        {"info": {"noun": "project"}},
    )
