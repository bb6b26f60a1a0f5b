"""identity's HTTP API: sign-up, login and logout, and the accounts of a site and their roles.

Storage is `store`'s; these handlers do HTTP, the order of the steps, and who may take them
(`tenantry.platform.users`). A change that affects what an account's tokens may do is written
with a row of the account feed (`account_changes`), which every edge follows; a role change or
a removal also with a notice for every region's kms (`kms_notices`), since kms rotates any
root key the account owns.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.responses import Response

from tenantry.platform.audit.events import Actor, AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import (
    MissingTenantError,
    TenantContext,
    current_client_address,
    current_tenant_token,
    require_tenant,
    tenant_scope,
)
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.logs import security_event
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.tenant_status import require_served
from tenantry.platform.topology import Retention
from tenantry.platform.users import ADMIN, Admin, SignedIn
from tenantry.services.identity import store
from tenantry.services.identity.account_changes import AccountChanges
from tenantry.services.identity.accounts import public
from tenantry.services.identity.kms_notices import KmsNotices
from tenantry.services.identity.models import AccountChange
from tenantry.services.identity.passwords import PasswordWork, needs_rehash
from tenantry.services.identity.schemas import (
    AccountId,
    AccountPatch,
    Login,
    NewAccount,
    PasswordChange,
    Signup,
)
from tenantry.services.identity.user_tokens import LIFETIME_SECONDS, UserTokens

T = TypeVar("T")


def _tenant_from(document: dict[str, Any]) -> TenantContext:
    return TenantContext(
        cloud_id=document["cloud_id"],
        site=document["site"],
        region=document["region"],
        shard=document["shard"],
        status=document["status"],
        key_available=document.get("key_available", True) is not False,
    )


def _account_deleted() -> ApiError:
    return ApiError(409, "account_deleted", "this account is deleted; restore it first")


def _relay(response_status: int, document: dict[str, Any]) -> ApiError:
    """Pass a tcs refusal on to the client with its own status and reason code."""
    return ApiError(
        response_status,
        str(document.get("error", "upstream_error")),
        str(document.get("message", "")),
    )


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
    user_tokens: UserTokens,
    data_keys: DataKeys,
    notices: KmsNotices,
    changes: AccountChanges,
    passwords: PasswordWork,
    audit: AuditOutbox,
    clock: Callable[[], float] = time.time,
    account_grace_seconds: float = Retention().site_grace_seconds,
) -> APIRouter:
    """identity's routes, bound to its database, tcs client, user-token signer, data keys, kms
    outbox, account feed and password hashing.

    Emails are sealed with the tenant's data key, so work that writes or reads one runs
    through `data_keys.run`, which hands it the tenant's keys.
    """
    router = APIRouter()

    def record(session: TenantSession, action: str, target: str, **detail: Any) -> None:
        audit.record(session, AuditEvent(action, target, current_actor("identity"), detail=detail))

    async def sealed(work: Callable[[TenantKeys, TenantSession], T]) -> T:
        """Run `work` in one transaction of the current tenant, with its keys."""

        def run(keys: TenantKeys) -> T:
            with databases.global_session() as session:
                return work(keys, session)

        return await data_keys.run(run)

    async def site_by_name(site: str) -> tuple[TenantContext, str]:
        """The tenant of `site` and its signed context, from tcs; refused unless it is served."""
        found = await client.call(
            "tcs", "GET", "/internal/tcs/tenants/by-site/{site}", params={"site": site}
        )
        document = found.json()
        if found.status != 200:
            raise _relay(found.status, document)
        tenant = _tenant_from(document)
        require_served(tenant)
        return tenant, str(document["context"])

    @router.post("/signup", status_code=201)
    async def signup(body: Signup) -> dict[str, str]:
        password_hash = await passwords.hash(body.site, body.password)
        placement: dict[str, Any] = {"site": body.site}
        if body.region is not None:
            placement["region"] = body.region
        if body.users_by_country is not None:
            placement["users_by_country"] = body.users_by_country
        created = await client.call("tcs", "POST", "/internal/tcs/tenants", json=placement)
        document = created.json()
        if created.status != 201:
            raise _relay(created.status, document)
        tenant = _tenant_from(document)
        try:
            with _signed_scope(tenant, document["context"]):

                def add_admin(keys: TenantKeys, session: TenantSession) -> None:
                    account = store.add(
                        session, keys, body.email, password_hash, ADMIN, body.display_name
                    )
                    record(session, "account_created", account.account_id, role=ADMIN)

                await sealed(add_admin)
        except Exception:
            await client.call(
                "tcs",
                "DELETE",
                "/internal/tcs/tenants/{cloud_id}",
                params={"cloud_id": tenant.cloud_id},
            )
            raise
        return {"site": tenant.site, "cloud_id": tenant.cloud_id, "region": tenant.region}

    @router.post("/login")
    async def login(body: Login) -> dict[str, str]:
        tenant, context = await site_by_name(body.site)
        with _signed_scope(tenant, context):
            account = await sealed(
                lambda keys, session: store.find_by_email(session, keys, body.email)
            )
        stored_hash = account.password_hash if account is not None else None
        if not await passwords.verify(body.site, stored_hash, body.password):
            security_event(
                "invalid_credentials",
                service="identity",
                tenant_id=tenant.cloud_id,
                site=body.site,
                account=account.account_id if account is not None else None,
                client=current_client_address.get(),
            )
            with _signed_scope(tenant, context), databases.global_session() as session:
                record(
                    session,
                    "login_failed",
                    account.account_id if account is not None else "unknown",
                    client=current_client_address.get() or "",
                )
            audit.wake()
            raise ApiError(401, "invalid_credentials", "the email or password is wrong")
        assert account is not None
        if not account.active:
            raise ApiError(403, "account_deactivated", "this account is deactivated")
        new_hash = None
        if needs_rehash(account.password_hash):
            new_hash = await passwords.hash(body.site, body.password)
        with tenant_scope(tenant), databases.global_session() as session:
            if new_hash is not None:
                stored = store.find(session, account.account_id)
                if stored is not None:
                    stored.password_hash = new_hash
            audit.record(
                session,
                AuditEvent(
                    "login",
                    account.account_id,
                    Actor("account", account.account_id),
                    detail={"client": current_client_address.get() or ""},
                ),
            )
        audit.wake()
        return {"token": user_tokens.issue(account)}

    @router.post("/logout", status_code=204, response_class=Response)
    async def logout(user: SignedIn) -> Response:
        """Revoke the token this request came with; the account's other tokens stay valid."""
        if user.token_id is None:
            raise ApiError(400, "token_id_missing", "the edge named no token to revoke")
        token_id = user.token_id
        now = clock()
        with databases.global_session() as session:
            account = store.get(session, user.account_id)
            store.revoke_token(session, account, token_id, now + LIFETIME_SECONDS, now)
            record(session, "token_revoked", account.account_id, jti=token_id)
            change = changes.record(session, account.account_id)
        audit.wake()
        answer = Response(status_code=204)
        changes.committed(answer, change)
        return answer

    @router.get("/rest/identity/me")
    async def me(user: SignedIn) -> dict[str, Any]:
        def read(keys: TenantKeys, session: TenantSession) -> dict[str, Any]:
            account = store.find(session, user.account_id)
            if account is None:
                raise ApiError(404, "account_not_found", "this account no longer exists")
            shown = public(keys, account)
            return {name: shown[name] for name in ("account_id", "email", "display_name", "role")}

        return await sealed(read)

    @router.post("/rest/identity/me/password")
    async def change_password(
        body: PasswordChange, user: SignedIn, response: Response
    ) -> dict[str, str]:
        """Set a new password; every token of the account is revoked, and a new one answered."""
        site = require_tenant().site
        with databases.global_session() as session:
            current = store.get(session, user.account_id).password_hash
        if not await passwords.verify(site, current, body.current_password):
            security_event(
                "wrong_current_password",
                service="identity",
                site=site,
                account=user.account_id,
                client=current_client_address.get(),
            )
            raise ApiError(403, "wrong_password", "the current password is wrong")
        new_hash = await passwords.hash(site, body.new_password)
        with databases.global_session() as session:
            account = store.get(session, user.account_id)
            account.password_hash = new_hash
            store.revoke_all(session, account)
            record(session, "password_changed", account.account_id, sessions="all_revoked")
            change = changes.record(session, account.account_id)
            token = user_tokens.issue(account)
        audit.wake()
        changes.committed(response, change)
        return {"token": token}

    @router.get("/rest/identity/accounts")
    async def list_accounts(_admin: Admin) -> dict[str, list[dict[str, Any]]]:
        def read(keys: TenantKeys, session: TenantSession) -> list[dict[str, Any]]:
            shown = [public(keys, account) for account in store.all_accounts(session)]
            # Emails are sealed, so the database cannot order by them.
            return sorted(shown, key=lambda a: (str(a["email"]), str(a["account_id"])))

        return {"accounts": await sealed(read)}

    @router.post("/rest/identity/accounts", status_code=201)
    async def add_account(body: NewAccount, _admin: Admin) -> dict[str, Any]:
        password_hash = await passwords.hash(require_tenant().site, body.password)

        def add(keys: TenantKeys, session: TenantSession) -> dict[str, Any]:
            account = store.add(
                session, keys, body.email, password_hash, body.role, body.display_name
            )
            record(session, "account_created", account.account_id, role=body.role)
            return public(keys, account)

        shown = await sealed(add)
        audit.wake()
        return shown

    @router.patch("/rest/identity/accounts/{account_id}")
    async def change_account(
        account_id: AccountId, body: AccountPatch, _admin: Admin, response: Response
    ) -> dict[str, Any]:
        changed: AccountChange | None = None

        def change(keys: TenantKeys, session: TenantSession) -> dict[str, Any]:
            nonlocal changed
            account = store.get(session, account_id)
            if account.deleted_at is not None:
                raise _account_deleted()
            role = account.role if body.role is None else body.role
            active = account.active if body.active is None else body.active
            if role == account.role and active == account.active:
                return public(keys, account)
            store.keep_an_admin(session, account)
            if role != account.role:
                record(session, "account_role_changed", account_id, old=account.role, new=role)
                account.role = role
                notices.record(session, account_id, "role_changed", role)
            if active != account.active:
                account.active = active
                action = "account_activated" if active else "account_deactivated"
                record(session, action, account_id)
                if not active:
                    store.revoke_all(session, account)
                    notices.record(session, account_id, "deactivated")
            changed = changes.record(session, account_id)
            return public(keys, account)

        shown = await sealed(change)
        if changed is not None:
            changes.committed(response, changed)
            notices.wake()
            audit.wake()
        return shown

    @router.delete("/rest/identity/accounts/{account_id}", status_code=204, response_class=Response)
    async def remove_account(account_id: AccountId, _admin: Admin) -> Response:
        """Delete an account: deactivated at once (its tokens stop), erased when the grace
        period ends unless an admin restores it. Any key it owned is no longer its own."""
        now = clock()
        with databases.global_session() as session:
            account = store.get(session, account_id)
            if account.deleted_at is not None:
                raise ApiError(404, "account_not_found", "the site has no such account")
            store.keep_an_admin(session, account)
            store.soft_delete(session, account, now, now + account_grace_seconds)
            record(session, "account_deleted", account_id)
            notices.record(session, account_id, "removed")
            change = changes.record(session, account_id)
        audit.wake()
        answer = Response(status_code=204)
        changes.committed(answer, change)
        notices.wake()
        return answer

    @router.post("/rest/identity/accounts/{account_id}/restore")
    async def restore_account(
        account_id: AccountId, _admin: Admin, response: Response
    ) -> dict[str, Any]:
        """Bring a deleted account back within its grace period, active (it logs in anew)."""
        restored: AccountChange | None = None

        def restore(keys: TenantKeys, session: TenantSession) -> dict[str, Any]:
            nonlocal restored
            account = store.get(session, account_id)
            if account.deleted_at is None:
                raise ApiError(409, "account_not_deleted", "this account is not deleted")
            store.restore(session, account)
            record(session, "account_restored", account_id)
            restored = changes.record(session, account_id)
            return public(keys, account)

        shown = await sealed(restore)
        if restored is not None:
            changes.committed(response, restored)
            audit.wake()
        return shown

    @router.get("/internal/identity/accounts/{account_id}")
    async def account_state(account_id: AccountId) -> dict[str, Any]:
        """Does the site have this account, with which role and standing, and which of its
        tokens are revoked (for the edge, issues and the operator; no email)."""
        try:
            with databases.global_session() as session:
                found = store.state(session, account_id, clock())
        except MissingTenantError:
            raise ApiError(400, "tenant_required", "this route needs a tenant context") from None
        if found is None:
            raise ApiError(404, "account_not_found", "the site has no such account")
        return found

    return router
