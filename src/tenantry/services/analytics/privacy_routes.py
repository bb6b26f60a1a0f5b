"""The analytics service's export and erase steps for one account (see
`platform.personal_data_steps`).

Export: the pages and days the account is still kept as a viewer of. Erase: those rows go; the
views and unique viewer counts they were part of stay (they name nobody). Nothing here is
sealed, so the steps need no data key.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from tenantry.platform.personal_data_steps import (
    EraseStep,
    ExportStep,
    action,
    erased,
    exported,
    require_signed_tenant,
)
from tenantry.platform.storage.databases import Databases
from tenantry.services.analytics import store

SERVICE = "analytics"


def build_privacy_router(databases: Databases) -> APIRouter:
    """The export and erase steps, bound to the analytics database."""
    router = APIRouter(prefix=f"/internal/{SERVICE}/personal-data")

    @router.post("/export")
    async def export_account(body: ExportStep) -> dict[str, Any]:
        """Every record analytics holds about the account."""
        require_signed_tenant()

        def read() -> dict[str, Any]:
            with databases.session() as session:
                return exported(
                    SERVICE, {"page_viewers": store.viewer_rows(session, body.account_id)}
                )

        return await asyncio.to_thread(read)

    @router.post("/erase")
    async def erase_account(body: EraseStep) -> dict[str, Any]:
        """Drop the account's viewer rows; the counts stay."""
        require_signed_tenant()

        def run() -> list[dict[str, Any]]:
            with databases.session() as session:
                gone = store.forget_viewer(session, body.account_id)
            return [action("page_viewers", "deleted", gone)]

        return erased(SERVICE, await asyncio.to_thread(run))

    return router
