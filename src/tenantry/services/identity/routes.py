"""identity's HTTP API: sign-up, login, and the accounts of a site and their roles.

A role change or removal is written together with a notice for every region's kms
(`kms_notices`), since kms rotates any root key the account owns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from tenantry.platform import claims as claim
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import (
    MissingTenantError,
    TenantContext,
    UserContext,
    current_tenant_token,
    current_user,
    require_tenant,
    tenant_scope,
)
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.accounts import email_index, new_account, public
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import Account
from tenantry.services.identity.passwords import hash_password, needs_rehash, verify_password
from tenantry.services.identity.schemas import AccountId, Login, NewAccount, RoleChange, Signup

USER_TOKEN_AUDIENCE = "edge"  # noqa: S105 (an audience, not a secret)


def _tenant_from(document: dict[str, Any]) -> TenantContext:
    return TenantContext(
        cloud_id=document["cloud_id"],
        site=document["site"],
        region=document["region"],
        shard=document["shard"],
        status=document["status"],
        key_available=document.get("key_available", True) is not False,
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


def _account(session: TenantSession, account_id: str) -> Account:
    """The current tenant's account `account_id`, or 404 `account_not_found`."""
    account = session.get(Account, (require_tenant().cloud_id, account_id))
    if account is None:
        raise ApiError(404, "account_not_found", "the site has no such account")
    return account


def _keep_an_admin(session: TenantSession, leaving: Account) -> None:
    """Refuse (409 `last_admin`) to take away the site's last admin."""
    if leaving.role != "admin":
        return
    admins = session.scalar(select(func.count(Account.account_id)).where(Account.role == "admin"))
    if (admins or 0) <= 1:
        raise ApiError(409, "last_admin", "a site keeps at least one admin")


@contextlib.contextmanager
def _signed_scope(tenant: TenantContext, signed_context: str) -> Iterator[None]:
    """Act as `tenant`, forwarding its tcs-signed context (kms wants it for the data keys).

    Requests through the edge get both from the service auth layer; sign-up and login, which
    find their tenant by asking tcs, set them from tcs's answer here.
    """
    token = current_tenant_token.set(signed_context)
    try:
        with tenant_scope(tenant):
            yield
    finally:
        current_tenant_token.reset(token)


def build_router(
    databases: Databases,
    client: ServiceClient,
    user_tokens: TokenSigner,
    data_keys: DataKeys,
    notices: KmsNotices,
) -> APIRouter:
    """identity's routes, bound to its database, tcs client, user-token signer, data keys and
    kms outbox.

    Emails are sealed with the tenant's data key, so work that writes or reads one runs
    through `data_keys.run`, which hands it the tenant's keys.
    """
    router = APIRouter()

    def require_current_admin() -> UserContext:
        """An admin's token, whose account is still an admin now (403 `admin_required`).

        A token names the role its account had when it was issued; an admin demoted or removed
        since must lose the admin routes at once, not when the token runs out.
        """
        user = _require_admin()
        with databases.global_session() as session:
            account = session.get(Account, (require_tenant().cloud_id, user.account_id))
        if account is None or account.role != "admin":
            raise ApiError(403, "admin_required", "only a site admin may do this")
        return user

    def store_account(
        keys: TenantKeys, email: str, password_hash: str, role: str, display_name: str | None
    ) -> str:
        """Add an account to the current tenant; its id. IntegrityError if the email is taken."""
        account = new_account(keys, email, password_hash, role, display_name)
        with databases.global_session() as session:
            session.add(account)
        return account.account_id

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
            with _signed_scope(tenant, document["context"]):
                await data_keys.run(
                    lambda keys: store_account(
                        keys, body.email, password_hash, "admin", body.display_name
                    )
                )
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

        def find(keys: TenantKeys) -> Account | None:
            index = email_index(keys, body.email)
            with databases.global_session() as session:
                return session.scalars(select(Account).where(Account.email_index == index)).first()

        with _signed_scope(tenant, document["context"]):
            account = await data_keys.run(find)
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
    async def me() -> dict[str, str | None]:
        user = _require_user()

        def read(keys: TenantKeys) -> dict[str, str | None]:
            with databases.global_session() as session:
                account = session.get(Account, (require_tenant().cloud_id, user.account_id))
                if account is None:
                    raise ApiError(404, "account_not_found", "this account no longer exists")
                return public(keys, account)

        return await data_keys.run(read)

    @router.get("/rest/identity/accounts")
    async def list_accounts() -> dict[str, list[dict[str, str | None]]]:
        require_current_admin()

        def read(keys: TenantKeys) -> list[dict[str, str | None]]:
            with databases.global_session() as session:
                accounts = session.scalars(select(Account)).all()
                # Emails are sealed, so the database cannot order by them.
                shown = [public(keys, account) for account in accounts]
            return sorted(shown, key=lambda a: (str(a["email"]), str(a["account_id"])))

        return {"accounts": await data_keys.run(read)}

    @router.post("/rest/identity/accounts", status_code=201)
    async def add_account(body: NewAccount) -> dict[str, str | None]:
        require_current_admin()
        password_hash = await run_in_threadpool(hash_password, body.password)
        try:
            account_id = await data_keys.run(
                lambda keys: store_account(
                    keys, body.email, password_hash, body.role, body.display_name
                )
            )
        except IntegrityError as exc:
            raise ApiError(409, "account_exists", "that email already has an account") from exc
        return {
            "account_id": account_id,
            "email": body.email,
            "display_name": body.display_name,
            "role": body.role,
        }

    @router.patch("/rest/identity/accounts/{account_id}")
    async def change_role(account_id: AccountId, body: RoleChange) -> dict[str, str | None]:
        require_current_admin()
        changed = False

        def change(keys: TenantKeys) -> dict[str, str | None]:
            nonlocal changed
            with databases.global_session() as session:
                account = _account(session, account_id)
                if account.role != body.role:
                    _keep_an_admin(session, account)
                    account.role = body.role
                    notices.record(session, account_id, "role_changed", body.role)
                    changed = True
                return public(keys, account)

        shown = await data_keys.run(change)
        if changed:
            notices.wake()
        return shown

    @router.delete("/rest/identity/accounts/{account_id}", status_code=204)
    async def remove_account(account_id: AccountId) -> None:
        require_current_admin()

        def remove() -> None:
            with databases.global_session() as session:
                account = _account(session, account_id)
                _keep_an_admin(session, account)
                session.delete(account)
                notices.record(session, account_id, "removed")

        remove()
        notices.wake()

    @router.get("/internal/identity/accounts/{account_id}")
    async def account_role(account_id: AccountId) -> dict[str, str]:
        """For the operator: does the site have this account, and with which role (no email)."""
        try:
            with databases.global_session() as session:
                account = _account(session, account_id)
                return {"account_id": account.account_id, "role": account.role}
        except MissingTenantError:
            raise ApiError(400, "tenant_required", "this route needs a tenant context") from None

    return router
