"""The transparency register's routes, for the operator CLI only (`tenantry legal`).

None is public: the edge forwards none of them and the allowlist opens them to the operator
alone, so no tenant can read or learn of the register. Bad input is a 422 with a reason code,
an impossible state change a 409.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tenantry.services.tcs.legal_register import MAX_ACCOUNTS, MAX_REASON, MAX_SITES, LegalRegister

Short = Annotated[str, StringConstraints(min_length=1, max_length=64)]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class LegalRequestIn(BaseModel):
    """A government or legal request as received (the register checks each field)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    jurisdiction: Short
    type: Short
    sites: list[Short] = Field(max_length=MAX_SITES + 1)
    accounts: list[Short] = Field(default_factory=list, max_length=MAX_ACCOUNTS + 1)
    received: Short
    reference: Annotated[str, StringConstraints(max_length=200)] | None = None


class LegalChangeIn(BaseModel):
    """A request's next state, and what was done about the customer notice."""

    model_config = ConfigDict(extra="forbid", strict=True)

    state: Short | None = None
    disclosure: Short | None = None
    notice_sent: Short | None = None
    notice_withheld_reason: Annotated[str, StringConstraints(max_length=MAX_REASON + 1)] | None = (
        None
    )


def build_legal_router(register: LegalRegister) -> APIRouter:
    """The register's routes, bound to it."""
    router = APIRouter()

    @router.post("/internal/tcs/legal/requests", status_code=201)
    async def add(body: LegalRequestIn) -> dict[str, object]:
        """Record a request, received."""
        return register.add(body.model_dump())

    @router.get("/internal/tcs/legal/requests")
    async def listed(
        year: Annotated[int | None, Query(ge=2000, le=9999)] = None,
    ) -> dict[str, object]:
        """Every request, or those received in `year`, oldest first."""
        return {"requests": register.listed(year)}

    @router.get("/internal/tcs/legal/requests/{request_id}")
    async def one(request_id: RequestId) -> dict[str, object]:
        """One request as it stands."""
        return register.get(request_id)

    @router.patch("/internal/tcs/legal/requests/{request_id}")
    async def change(request_id: RequestId, body: LegalChangeIn) -> dict[str, object]:
        """Move a request on, or record its customer notice (or why there is none)."""
        return register.update(request_id, body.model_dump(exclude_none=True))

    return router
