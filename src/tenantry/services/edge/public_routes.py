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
    media_token: bool = False
    """Authorised by a media token in `?token=` (plain links), not by a user token."""
    upload: bool = False
    """Takes a file as multipart/form-data, up to the media body limit, instead of JSON."""
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", pattern_regex(self.pattern))


ANONYMOUS_ROUTES = (
    PublicRoute("POST", "/signup", "identity", needs_user=False, regional=False),
    PublicRoute("POST", "/login", "identity", needs_user=False, regional=False),
)

LOGIN = ANONYMOUS_ROUTES[1]

TENANT_ROUTES = (
    PublicRoute("POST", "/logout", "identity", regional=False),
    PublicRoute("GET", "/rest/identity/me", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/me/password", "identity", regional=False),
    PublicRoute("GET", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/accounts", "identity", regional=False),
    PublicRoute("PATCH", "/rest/identity/accounts/{account_id}", "identity", regional=False),
    PublicRoute("DELETE", "/rest/identity/accounts/{account_id}", "identity", regional=False),
    PublicRoute("POST", "/rest/identity/accounts/{account_id}/restore", "identity", regional=False),
    PublicRoute("POST", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects", "issues"),
    PublicRoute("GET", "/rest/issues/projects/{key}", "issues"),
    PublicRoute("DELETE", "/rest/issues/projects/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("PATCH", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/comments", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}/comments", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}/comments/{comment_id}", "issues"),
    PublicRoute("GET", "/rest/issues/trash", "issues"),
    PublicRoute("POST", "/rest/issues/trash/{trash_id}/restore", "issues"),
    PublicRoute("DELETE", "/rest/issues/trash/{trash_id}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/attachments", "issues", upload=True),
    PublicRoute("GET", "/rest/issues/issues/{key}/attachments", "issues"),
    PublicRoute("DELETE", "/rest/issues/issues/{key}/attachments/{attachment_id}", "issues"),
    PublicRoute("POST", "/rest/issues/issues/{key}/attachments/uploads", "issues"),
    PublicRoute("GET", "/rest/issues/issues/{key}/attachments/uploads/{upload_id}", "issues"),
    PublicRoute(
        "POST", "/rest/issues/issues/{key}/attachments/uploads/{upload_id}/complete", "issues"
    ),
    PublicRoute("POST", "/rest/pages/spaces", "pages"),
    PublicRoute("GET", "/rest/pages/spaces", "pages"),
    PublicRoute("GET", "/rest/pages/spaces/{key}/tree", "pages"),
    PublicRoute("POST", "/rest/pages/pages", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("PUT", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("DELETE", "/rest/pages/pages/{page_id}", "pages"),
    PublicRoute("POST", "/rest/pages/pages/{page_id}/move", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/versions", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/versions/{number}", "pages"),
    PublicRoute("POST", "/rest/pages/pages/{page_id}/versions/{number}/restore", "pages"),
    PublicRoute("GET", "/rest/pages/pages/{page_id}/diff", "pages"),
    PublicRoute("GET", "/rest/pages/search", "pages"),
    PublicRoute("GET", "/rest/pages/trash", "pages"),
    PublicRoute("POST", "/rest/pages/trash/{page_id}/restore", "pages"),
    PublicRoute("DELETE", "/rest/pages/trash/{page_id}", "pages"),
    PublicRoute("GET", "/rest/analytics/pages/{page_id}", "analytics"),
    PublicRoute("GET", "/rest/analytics/spaces/{key}", "analytics"),
)

MEDIA_PREFIX = "/rest/media/"
MEDIA_SETTINGS_ROUTES = (
    PublicRoute("GET", "/rest/media/settings", "media"),
    PublicRoute("PUT", "/rest/media/settings", "media"),
    PublicRoute("PATCH", "/rest/media/settings", "media"),
)


def _media(method: str, pattern: str) -> PublicRoute:
    return PublicRoute(method, MEDIA_PREFIX + pattern, "media", needs_user=False, media_token=True)


MEDIA_TOKEN_ROUTES = (
    _media("POST", "collections/{collection}/files"),
    _media("GET", "collections/{collection}/files"),
    _media("POST", "collections/{collection}/uploads"),
    _media("GET", "uploads/{upload_id}"),
    _media("PUT", "uploads/{upload_id}/chunks/{index}"),
    _media("POST", "uploads/{upload_id}/complete"),
    _media("DELETE", "uploads/{upload_id}"),
    _media("GET", "files/{file_id}"),
    _media("PATCH", "files/{file_id}"),
    _media("GET", "files/{file_id}/content"),
    _media("GET", "files/{file_id}/preview/{page}"),
    _media("GET", "files/{file_id}/thumbnail"),
    _media("DELETE", "files/{file_id}"),
)

AUDIT_ROUTES = (
    PublicRoute("GET", "/rest/audit/events", "audit"),
    PublicRoute("GET", "/rest/audit/checkpoint", "audit"),
    PublicRoute("GET", "/rest/audit/proof/inclusion", "audit"),
    PublicRoute("GET", "/rest/audit/proof/consistency", "audit"),
)

PRIVACY_ROUTES = (
    PublicRoute("POST", "/rest/privacy/exports", "privacy"),
    PublicRoute("GET", "/rest/privacy/exports/{export_id}", "privacy"),
    PublicRoute("POST", "/rest/privacy/erasures", "privacy"),
)

PUBLIC_ROUTES = (
    ANONYMOUS_ROUTES
    + TENANT_ROUTES
    + MEDIA_SETTINGS_ROUTES
    + MEDIA_TOKEN_ROUTES
    + AUDIT_ROUTES
    + PRIVACY_ROUTES
)
ANONYMOUS_PATHS = frozenset(route.pattern for route in ANONYMOUS_ROUTES)


def find_media_route(method: str, path: str) -> PublicRoute | None:
    """The media-token route for `method path`, if it is one (checked before any user token)."""
    if not path.startswith(MEDIA_PREFIX):
        return None
    for route in MEDIA_TOKEN_ROUTES:
        if route.method == method and route.regex.match(path):
            return route
    return None


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
