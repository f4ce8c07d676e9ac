"""Every resource the service serves. Adding one is a feature package, a migration and a line
here (README, "Adding a resource")."""

from db_postgres_service.api.resource import Resource
from db_postgres_service.events.routes import EVENTS
from db_postgres_service.organizations.routes import ORGANIZATIONS
from db_postgres_service.users.routes import USERS

RESOURCES: tuple[Resource, ...] = (USERS, ORGANIZATIONS, EVENTS)
