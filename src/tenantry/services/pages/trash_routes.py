"""The pages of the site's trash under `/rest/pages/trash`: list deletions and restore them.

An admin sees and restores every deletion, and erases one for good; a member sees and
restores only their own (`trash_scope`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import Admin, Member, trash_scope
from tenantry.services.pages import trash
from tenantry.services.pages.identifiers import parse_page_id

PREFIX = "/rest/pages/trash"


def build_trash_router(databases: Databases, data_keys: DataKeys) -> APIRouter:
    """The routes of the pages in the trash."""
    router = APIRouter(prefix=PREFIX, tags=["pages"])

    @router.get("")
    async def list_trash(user: Member) -> dict[str, Any]:
        scope = trash_scope(user)

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                return {"items": trash.list_trash(session, keys, scope)}

        return await data_keys.run(read)

    @router.post("/{page_id}/restore")
    async def restore(page_id: str, user: Member) -> dict[str, str]:
        ref = parse_page_id(page_id)
        with databases.session() as session:
            space = trash.restore_page(session, ref, trash_scope(user))
        return {"id": ref, "space": space}

    @router.delete("/{page_id}", status_code=204, response_class=Response)
    async def purge(page_id: str, _admin: Admin) -> Response:
        """Erase a deleted page (and the pages deleted with it) for good, now."""
        ref = parse_page_id(page_id)
        with databases.session() as session:
            trash.purge_page(session, ref)
        return Response(status_code=204)

    return router
