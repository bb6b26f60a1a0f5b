"""The bodies of every service's export and erase steps for one account, so whoever runs an
export or an erasure (the privacy service, the operator) talks to every store the same way.

A step is called with the tenant's signed context. Export answers every record of the store
about the account, table by table, as JSON (sealed fields opened); erase does what the
service's declaration says and answers what it did, table by table, so the receipt can list
each store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.context import current_tenant
from tenantry.platform.errors import ApiError

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
