"""The application's routes, matched once per request for every layer in front of FastAPI.

Authentication needs the matched route's declared scope, the fast lane its handler, metrics
and the access log its template: the first layer that needs the route matches it here and
leaves it in the ASGI scope (`route`, `endpoint`, `path_params`, as Starlette's router does).
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from db_postgres_service.api.scopes import required_scope

_NAMED_GROUP = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


def endpoints(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """The routes that answer requests, with included routers opened up.

    FastAPI keeps each included router as one entry (`original_router` holds its routes), whose
    match says nothing of which route inside it matched. This service includes its routers
    without a prefix, so their routes' paths are the paths served.
    """
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is None:
            yield route
        else:
            yield from endpoints(included.routes)


@dataclass(frozen=True, slots=True)
class Endpoint:
    route: BaseRoute
    # None for a route that needs no key.
    required_scope: str | None


def _take(scope: Scope, endpoint: Endpoint, child_scope: Scope) -> tuple[Match, Endpoint]:
    """What Starlette's router gives a matched request: the route, its endpoint and its
    converted path parameters."""
    scope.update(child_scope)
    scope["route"] = endpoint.route
    return Match.FULL, endpoint


class RouteTable:
    """Every endpoint with the scope it declares (checked when the table is built: a route
    that declares none stops the application from starting).

    Matching asks one regular expression, the union of all routes' paths, which path template
    a request names, then Starlette's own match of that route for its method and parameters:
    the routes in order, as Starlette's router would, cost a regular expression each.
    """

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.endpoints = tuple(
            Endpoint(route, required_scope(route)) for route in endpoints(routes)
        )
        self.scopes = frozenset(
            endpoint.required_scope
            for endpoint in self.endpoints
            if endpoint.required_scope is not None
        )
        patterns: dict[str, list[Endpoint]] = {}
        self._plain = all(isinstance(endpoint.route, Route) for endpoint in self.endpoints)
        for endpoint in self.endpoints:
            if isinstance(endpoint.route, Route):
                patterns.setdefault(endpoint.route.path_regex.pattern, []).append(endpoint)
        self._by_group = {f"p{index}": group for index, group in enumerate(patterns.values())}
        union = "|".join(
            f"(?P<p{index}>{_NAMED_GROUP.sub('(?:', pattern)})"
            for index, pattern in enumerate(patterns)
        )
        self._union = re.compile(union)

    def match(self, scope: Scope) -> tuple[Match, Endpoint | None]:
        """The endpoint that serves the request (FULL), or one whose path it names with another
        method (PARTIAL), or none; on FULL the scope gets the route and its path parameters."""
        if self._plain and not scope.get("root_path"):
            found = self._union.match(scope["path"])
            if found is None:
                return Match.NONE, None
            assert found.lastgroup is not None, "every alternative is a named group"
            for endpoint in self._by_group[found.lastgroup]:
                match, child_scope = endpoint.route.matches(scope)
                if match is Match.FULL:
                    return _take(scope, endpoint, child_scope)
        # Another method than this template's, or an unusual request: Starlette's order.
        partial = None
        for endpoint in self.endpoints:
            match, child_scope = endpoint.route.matches(scope)
            if match is Match.FULL:
                return _take(scope, endpoint, child_scope)
            if match is Match.PARTIAL and partial is None:
                partial = endpoint
        return (Match.NONE, None) if partial is None else (Match.PARTIAL, partial)

    def template(self, scope: Scope) -> str | None:
        """The path template of the route that serves the request, without converters
        (`{user_id}`, not `{user_id:user_id}`); None when none does."""
        route = scope.get("route")
        if route is None:
            match, endpoint = self.match(scope)
            route = endpoint.route if endpoint is not None and match is Match.FULL else None
        template: str | None = getattr(route, "path_format", None)
        return template
