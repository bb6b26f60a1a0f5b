"""Who may do what on a site: the one set of user and role checks every service makes.

The edge establishes each request's user from its user token and forwards the account's
*current* role, as identity holds it now (a demoted admin is a member at once, whatever their
token said when it was issued). Services read it from the request's context through these
checks only, so every refusal has the same status, reason code and message wherever it happens.

Roles, from least to most: a **viewer** reads; a **member** also creates and edits (issues,
comments, attachments); an **admin** also manages the site (accounts, projects, settings).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tenantry.platform.context import UserContext, current_tenant, current_user
from tenantry.platform.errors import ApiError

VIEWER = "viewer"
MEMBER = "member"
ADMIN = "admin"
ROLES = (VIEWER, MEMBER, ADMIN)
"""Every role, each allowed all that the ones before it are."""
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def require_user() -> UserContext:
    """The request's signed-in user: 400 `tenant_required` without a site, 401 `user_required`
    without a user."""
    if current_tenant.get() is None:
        raise ApiError(400, "tenant_required", "this route needs a tenant (site)")
    user = current_user.get()
    if user is None:
        raise ApiError(401, "user_required", "this route needs a signed-in user")
    return user


def has_role(user: UserContext | None, role: str) -> bool:
    """Whether `user` holds `role` or a stronger one (an unknown role holds none)."""
    return user is not None and _RANK.get(user.role, -1) >= _RANK[role]


def require_member() -> UserContext:
    """A signed-in member or admin; 403 `member_required` for a viewer."""
    user = require_user()
    if not has_role(user, MEMBER):
        raise ApiError(403, "member_required", "viewers may only read; this needs a member")
    return user


def require_admin() -> UserContext:
    """A signed-in admin of the site; 403 `admin_required` for anyone else."""
    user = require_user()
    if not has_role(user, ADMIN):
        raise ApiError(403, "admin_required", "only a site admin may do this")
    return user


def require_admin_or_author(author: str) -> UserContext:
    """A signed-in member who made the thing (`author` is its account id), or an admin;
    403 `admin_or_author_required` for anyone else."""
    user = require_member()
    if user.account_id != author and not has_role(user, ADMIN):
        raise ApiError(
            403, "admin_or_author_required", "only a site admin or its author may do this"
        )
    return user


def trash_scope(user: UserContext) -> str | None:
    """Whose deletions `user` may see and restore in the site's trash: everyone's (None) for an
    admin, only their own (their account id) for a member; viewers are refused by
    `require_member` before this is asked."""
    return None if has_role(user, ADMIN) else user.account_id


# FastAPI dependencies: coroutines, so the checks run on the event loop before the body is read.


async def _signed_in() -> UserContext:
    return require_user()


async def _member() -> UserContext:
    return require_member()


async def _admin() -> UserContext:
    return require_admin()


SignedIn = Annotated[UserContext, Depends(_signed_in)]
"""A route parameter for any signed-in user of the site, viewers included."""
Member = Annotated[UserContext, Depends(_member)]
"""A route parameter for a member or an admin."""
Admin = Annotated[UserContext, Depends(_admin)]
"""A route parameter for an admin."""
