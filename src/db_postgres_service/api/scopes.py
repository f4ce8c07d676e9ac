"""The scope each route needs, declared on the route itself and read by everyone: the
authentication layer, the OpenAPI document and `clients create --scope`.

A route under API_PREFIX states `dependencies=[requires("orders:read")]`; a route elsewhere
that needs no key states `openapi_extra=PUBLIC`. A route that says neither, or a route under
API_PREFIX that does not require exactly one scope, stops the application from starting.
"""

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends, Request, Security, params
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from starlette.routing import BaseRoute

from db_postgres_service.core.errors import Forbidden

API_PREFIX = "/api/"
SECURITY_SCHEME = "apiKey"
# An operation whose security requirement is empty needs no credentials (OpenAPI 3.1 §4.8.10).
PUBLIC: dict[str, Any] = {"security": []}

_bearer = HTTPBearer(
    scheme_name=SECURITY_SCHEME,
    description="An API key from `db-postgres-service clients create`.",
    auto_error=False,
)


class UndeclaredScope(RuntimeError):
    """A route that does not say which scope it needs, or says it wrongly."""


async def _granted(
    request: Request,
    required: SecurityScopes,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The route's own check of its scope, behind the authentication layer's: a request that
    reached the route without that check (a path matched differently) still cannot pass."""
    granted: frozenset[str] = request.scope["state"].get("scopes", frozenset())
    missing = [scope for scope in required.scopes if scope not in granted]
    if missing:
        raise Forbidden(f"The key lacks the scope {missing[0]}.")


def requires(scope: str) -> params.Security:
    """The declaration of the one scope a route needs, for its `dependencies`."""
    declaration: params.Security = Security(_granted, scopes=[scope])
    return declaration


def _declared_scopes(route: APIRoute) -> list[str]:
    return [
        scope
        for dependency in route.dependencies
        if isinstance(dependency, params.Security) and dependency.dependency is _granted
        for scope in dependency.scopes or ()
    ]


def required_scope(route: BaseRoute) -> str | None:
    """The scope `route` declares, or None when it is public; UndeclaredScope when it is
    neither, or under API_PREFIX without exactly one scope."""
    path: str = getattr(route, "path", "")
    if not isinstance(route, APIRoute):
        if path.startswith(API_PREFIX):
            raise UndeclaredScope(f"{path} is not an API route and cannot declare a scope")
        # FastAPI's own pages (/docs, /openapi.json), which the contract leaves open.
        return None
    scopes = _declared_scopes(route)
    if path.startswith(API_PREFIX):
        if len(scopes) != 1:
            raise UndeclaredScope(
                f"{sorted(route.methods or ())} {path} must declare exactly one scope with "
                f"requires(...), not {scopes}"
            )
        return scopes[0]
    if scopes or route.openapi_extra != PUBLIC:
        raise UndeclaredScope(
            f"{sorted(route.methods or ())} {path} is outside {API_PREFIX}: it must be "
            "openapi_extra=PUBLIC and require no scope"
        )
    return None


def declared_scopes(routes: Iterable[BaseRoute]) -> frozenset[str]:
    """Every scope some route requires: the scopes a key can usefully hold."""
    return frozenset(scope for route in routes if (scope := required_scope(route)) is not None)
