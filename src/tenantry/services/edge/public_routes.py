"""The public route table as the edge uses it: which route a request is, or why it is none.

The routes themselves are the services' (each spec's `public_routes`); `serve` hands the joined
table to the edge through its runtime.
"""

from __future__ import annotations

from collections.abc import Sequence

from tenantry.platform.errors import ApiError
from tenantry.platform.public_routes import PublicRoute


class PublicRouteTable:
    """Every public route of the cloud, looked up by method and path."""

    def __init__(self, routes: Sequence[PublicRoute]) -> None:
        self.routes = tuple(routes)
        self.anonymous_paths = frozenset(
            route.pattern for route in self.routes if not route.needs_user and not route.media_token
        )
        """Paths served to anyone (sign-up, login): each call counts against its address."""
        self._media = tuple(route for route in self.routes if route.media_token)

    def find_media_route(self, method: str, path: str) -> PublicRoute | None:
        """The media-token route for `method path`, if it is one (checked before any user
        token)."""
        for route in self._media:
            if route.method == method and route.regex.match(path):
                return route
        return None

    def find(self, method: str, path: str) -> PublicRoute:
        """The route for `method path`, or a 404/405 ApiError saying which part is wrong."""
        path_known = False
        for route in self.routes:
            if route.regex.match(path):
                if route.method == method:
                    return route
                path_known = True
        if path_known:
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}")
        raise ApiError(404, "unknown_route", f"there is no route {path}")

    def owners(self) -> tuple[str, ...]:
        """The services that own a public route, each once, in table order."""
        return tuple(dict.fromkeys(route.service for route in self.routes))
