"""identity's HTTP API: sign-up, login, and the accounts of a site."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from tenantry.platform import claims as claim
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import (
    TenantContext,
    UserContext,
    current_user,
    require_tenant,
    tenant_scope,
)
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.models import Account
from tenantry.services.identity.passwords import hash_password, needs_rehash, verify_password
from tenantry.services.identity.schemas import Login, NewAccount, Signup

USER_TOKEN_AUDIENCE = "edge"  # noqa: S105 (an audience, not a secret)


def _tenant_from(document: dict[str, Any]) -> TenantContext:
    return TenantContext(
        cloud_id=document["cloud_id"],
        site=document["site"],
        region=document["region"],
        shard=document["shard"],
        status=document["status"],
    )


def _relay(response_status: int, document: dict[str, Any]) -> ApiError:
    """Pass a tcs refusal on to the client with its own status and reason code."""
    return ApiError(
        response_status,
        str(document.get("error", "upstream_error")),
        str(document.get("message", "")),
    )


def _require_user() -> UserContext:
    user = current_user.get()
    if user is None:
        raise ApiError(401, "user_required", "this route needs a signed-in user")
    return user


def _require_admin() -> UserContext:
    user = _require_user()
    if user.role != "admin":
        raise ApiError(403, "admin_required", "only a site admin may do this")
    return user


def _new_account(email: str, password_hash: str, role: str) -> Account:
    return Account(
        account_id=uuid.uuid4().hex,
        email=email,
        password_hash=password_hash,
        role=role,
        created_at=time.time(),
    )


def build_router(
    databases: Databases, client: ServiceClient, user_tokens: TokenSigner
) -> APIRouter:
    """identity's routes, bound to its database, its tcs client and its user-token signer."""
    router = APIRouter()

    @router.post("/signup", status_code=201)
    async def signup(body: Signup) -> dict[str, str]:
        password_hash = await run_in_threadpool(hash_password, body.password)
        placement: dict[str, Any] = {"site": body.site}
        if body.region is not None:
            placement["region"] = body.region
        if body.users_by_country is not None:
            placement["users_by_country"] = body.users_by_country
        created = await client.call("tcs", "POST", "/tenants", json=placement)
        document = created.json()
        if created.status != 201:
            raise _relay(created.status, document)
        tenant = _tenant_from(document)
        try:
            with tenant_scope(tenant), databases.global_session() as session:
                session.add(_new_account(body.email, password_hash, "admin"))
        except Exception:
            await client.call(
                "tcs", "DELETE", "/tenants/{cloud_id}", params={"cloud_id": tenant.cloud_id}
            )
            raise
        return {"site": tenant.site, "cloud_id": tenant.cloud_id, "region": tenant.region}

    @router.post("/login")
    async def login(body: Login) -> dict[str, str]:
        found = await client.call(
            "tcs", "GET", "/tenants/by-site/{site}", params={"site": body.site}
        )
        document = found.json()
        if found.status != 200:
            raise _relay(found.status, document)
        tenant = _tenant_from(document)
        if tenant.status != "active":
            raise ApiError(403, f"tenant_{tenant.status}", f"the site is {tenant.status}")
        with tenant_scope(tenant), databases.global_session() as session:
            account = session.scalars(select(Account).where(Account.email == body.email)).first()
            stored_hash = account.password_hash if account is not None else None
        if not await run_in_threadpool(verify_password, stored_hash, body.password):
            raise ApiError(401, "invalid_credentials", "the email or password is wrong")
        assert account is not None
        if needs_rehash(account.password_hash):
            new_hash = await run_in_threadpool(hash_password, body.password)
            with tenant_scope(tenant), databases.global_session() as session:
                stored = session.get(Account, (tenant.cloud_id, account.account_id))
                if stored is not None:
                    stored.password_hash = new_hash
        token = user_tokens.sign(
            USER_TOKEN_AUDIENCE,
            {
                claim.TENANT: tenant.cloud_id,
                claim.USER: account.account_id,
                claim.ROLE: account.role,
            },
        )
        return {"token": token}

    @router.get("/rest/identity/me")
    def me() -> dict[str, str]:
        user = _require_user()
        with databases.global_session() as session:
            account = session.get(Account, (require_tenant().cloud_id, user.account_id))
            if account is None:
                raise ApiError(404, "account_not_found", "this account no longer exists")
            return account.public()

    @router.get("/rest/identity/accounts")
    def list_accounts() -> dict[str, list[dict[str, str]]]:
        _require_admin()
        with databases.global_session() as session:
            accounts = session.scalars(select(Account).order_by(Account.email)).all()
            return {"accounts": [account.public() for account in accounts]}

    @router.post("/rest/identity/accounts", status_code=201)
    def add_account(body: NewAccount) -> dict[str, str]:
        _require_admin()
        account = _new_account(body.email, hash_password(body.password), body.role)
        try:
            with databases.global_session() as session:
                session.add(account)
        except IntegrityError as exc:
            raise ApiError(409, "account_exists", "that email already has an account") from exc
        return account.public()

    return router
