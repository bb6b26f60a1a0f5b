"""The bodies of every service's export and erase steps for one account, so whoever runs an
export or an erasure (the privacy service, the operator) talks to every store the same way.

A step is called with the tenant's signed context. Export answers every record of the store
about the account, table by table, as JSON (sealed fields opened); erase does what the
service's declaration says and answers what it did, table by table, so the receipt can list
each store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.context import current_tenant
from tenantry.platform.errors import ApiError

if TYPE_CHECKING:
    from fastapi import APIRouter

    from tenantry.platform.data_keys import DataKeys, TenantKeys
    from tenantry.platform.storage.databases import Databases
    from tenantry.platform.storage.tenant_session import TenantSession

Records = Callable[["TenantSession", "TenantKeys", str], dict[str, Any]]
"""Every record of a store about an account, by table (sealed fields opened)."""
Erasure = Callable[["TenantSession", "TenantKeys", str, bool], list[dict[str, Any]]]
"""Erase an account from a store (its content too when True); what was done, by table."""

ACCOUNT_ID = r"^[0-9a-f]{32}$"
Content = Literal["keep", "erase"]


class ExportStep(BaseModel):
    """Export everything this store holds about one account."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ACCOUNT_ID)


class EraseStep(BaseModel):
    """Erase one account from this store; `content: erase` takes what it wrote and uploaded."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ACCOUNT_ID)
    content: Content = "keep"


def exported(service: str, records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """An export step's answer: the store and its records about the account, by table."""
    return {"service": service, "records": records}


def erased(service: str, actions: list[dict[str, Any]]) -> dict[str, Any]:
    """An erase step's answer: the store, what it did to each table, and when."""
    return {"service": service, "actions": actions, "at": stamp()}


def action(table: str, did: str, rows: int) -> dict[str, Any]:
    """One line of an erase step's answer: `did` (deleted, scrubbed, former_user, emptied,
    retained) to `rows` rows of `table`."""
    return {"table": table, "did": did, "rows": rows}


def stamp(moment: datetime | None = None) -> str:
    """A time in the answers: ISO 8601 UTC."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat()


def require_signed_tenant() -> None:
    """Refuse (400 `tenant_required`) a step called without a signed tenant context."""
    if current_tenant.get() is None:
        raise ApiError(400, "tenant_required", "name the tenant with its signed context")


def mapped_columns(model: type[Any]) -> list[Any]:
    """Every mapped column of `model`, as the ORM attributes a tenant session scopes."""
    return [getattr(model, column.key) for column in model.__table__.columns]


def tenant_store_steps(
    service: str, databases: Databases, data_keys: DataKeys, records: Records, erase: Erasure
) -> APIRouter:
    """The export and erase steps of a store whose rows are on the tenant's shard, under
    `/internal/<service>/personal-data/`: each runs in one session with the tenant's keys."""
    from fastapi import APIRouter

    router = APIRouter(prefix=f"/internal/{service}/personal-data")

    @router.post("/export")
    async def export_account(body: ExportStep) -> dict[str, Any]:
        """Every record the store holds about the account."""
        require_signed_tenant()

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                return exported(service, records(session, keys, body.account_id))

        return await data_keys.run(read)

    @router.post("/erase")
    async def erase_account(body: EraseStep) -> dict[str, Any]:
        """Take the account out of the store, as its declaration says."""
        require_signed_tenant()

        def run(keys: TenantKeys) -> list[dict[str, Any]]:
            with databases.session() as session:
                return erase(session, keys, body.account_id, body.content == "erase")

        return erased(service, await data_keys.run(run))

    return router
