"""The public route table: which URLs the edge exposes and which service owns each.

It is data, not code, so `tenantry policy check` can compare it with the allowlist: every route
here is a call the edge makes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tenantry.platform.errors import ApiError
from tenantry.platform.policy import pattern_regex


@dataclass(frozen=True, slots=True)
class PublicRoute:
    """One public URL: the owning service, and whether it needs a user and lives regionally."""

    method: str
    pattern: str
    service: str
    needs_user: bool = True
    regional: bool = True
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", pattern_regex(self.pattern))


ANONYMOUS_ROUTES = (
    PublicRoute("POST", "/signup", "identity", needs_user=False, regional=False),
    PublicRoute("POST", "/login", "identity", needs_user=False, regional=False),
)

TENANT_ROUTES = (
    PublicRoute("GET", "/rest/identity/me", "identity", regional=False),
    PublicRoute("GET", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("POST", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("PATCH", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/comments", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}/comments", "issues"),
)

PUBLIC_ROUTES = ANONYMOUS_ROUTES + TENANT_ROUTES
ANONYMOUS_PATHS = frozenset(route.pattern for route in ANONYMOUS_ROUTES)


def find_route(method: str, path: str) -> PublicRoute:
    """The route for `method path`, or a 404/405 ApiError saying which part is wrong."""
    path_known = False
    for route in PUBLIC_ROUTES:
        if route.regex.match(path):
            if route.method == method:
                return route
            path_known = True
    if path_known:
        raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path}")
    raise ApiError(404, "unknown_route", f"there is no route {path}")
