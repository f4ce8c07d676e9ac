"""The standard resources of the service, declared once for both clients: a resource the
service adds is one more declaration here (and its typed `create` in both clients)."""

from db_postgres_service_client._calls import Endpoint, StandardCalls
from db_postgres_service_client.models import Organization, User

USERS = StandardCalls(
    "users",
    User,
    lookups=("username", "email"),
    more={
        "create_many": Endpoint("POST", "/users/batch"),
        "authenticate": Endpoint("POST", "/users/authenticate"),
    },
)
ORGANIZATIONS = StandardCalls("organizations", Organization, lookups=("slug",))
