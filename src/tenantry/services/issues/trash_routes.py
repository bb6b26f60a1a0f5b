"""The site's trash under `/rest/issues/trash`: list it, restore an item, or purge one at once.

Who may see what is `tenantry.platform.users.trash_scope`: an admin sees and restores every
item, a member only what they deleted themselves, a viewer nothing; only an admin purges an
item before its time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from tenantry.platform.cursors import ListCursors
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import Admin, Member, require_admin_or_author, trash_scope
from tenantry.services.issues import trash
from tenantry.services.issues.media_files import UPLOAD_LIFETIME, MediaFiles, collection_of
from tenantry.services.issues.routes import DEFAULT_PAGE, PREFIX, Cursor, Limit
from tenantry.services.issues.trash_purges import TrashPurges


def build_trash_router(
    databases: Databases,
    data_keys: DataKeys,
    media: MediaFiles,
    cursors: ListCursors,
    purges: TrashPurges,
) -> APIRouter:
    """The trash routes of issues; attachments are restored in media through `media`."""
    router = APIRouter(prefix=PREFIX, tags=["trash"])

    @router.get("/trash")
    async def list_trash(
        user: Member, limit: Limit = DEFAULT_PAGE, cursor: Cursor = None
    ) -> dict[str, Any]:
        """What is in the trash, oldest deletion first: what each item is, its issue, when it
        was deleted and by whom."""
        scope = trash_scope(user)

        def page(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                items, next_cursor = trash.page(session, keys, scope, (cursors, limit, cursor))
            return {"items": [item.public() for item in items], "next_cursor": next_cursor}

        return await data_keys.run(page)

    @router.post("/trash/{trash_id}/restore")
    async def restore(trash_id: str, user: Member) -> dict[str, Any]:
        """Put an item back where it was; 409 `issue_in_trash` while its issue is in the
        trash, 409 `cannot_restore` when its file is gone from media."""

        def found(keys: TenantKeys) -> trash.TrashEntry:
            with databases.session() as session:
                entry = trash.find(session, keys, trash_id)
                require_admin_or_author(entry.deleted_by)
                if entry.kind != trash.ISSUE:
                    trash.require_issue_live(session, entry)
                if entry.kind == trash.COMMENT:
                    trash.restore_rows(session, entry)
                return entry

        entry = await data_keys.run(found)
        if entry.kind == trash.ISSUE:
            with databases.session() as session:
                keep = trash.trashed_attachments(session, entry.issue_id)
            collection = collection_of(entry.issue_key)
            token = await media.token(collection, ["delete"], user, UPLOAD_LIFETIME)
            await media.restore_collection(token, keep, user)
            with databases.session() as session:
                trash.restore_rows(session, entry)
        elif entry.kind == trash.ATTACHMENT:
            collection = collection_of(entry.issue_key)
            token = await media.token(collection, ["delete"], user, UPLOAD_LIFETIME)
            try:
                await media.restore_file(token, entry.item_id, user)
            except ApiError as refused:
                if refused.code != "attachment_not_found":
                    raise
                raise ApiError(
                    409, "cannot_restore", "the attachment's file is no longer kept"
                ) from None
            with databases.session() as session:
                trash.remove(session, entry.id)
        return {**entry.public(), "restored": True}

    @router.delete("/trash/{trash_id}", status_code=204, response_class=Response)
    async def purge(trash_id: str, user: Admin) -> Response:
        """Erase an item for good now (its files too), without waiting for its time."""

        await purges.purge_now(trash_id, user)
        return Response(status_code=204)

    return router
