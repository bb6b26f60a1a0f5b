"""The privacy routes: exports and erasures of one account, for site admins and (an export of
itself) for the account; the same under `/internal/privacy/` for the operator. The site's
transfer records, for its admins, and their recording by edges and moves.

A site admin may export any account of the site and erase any but the last admin; an account
may export itself; anyone else is refused (403 `not_allowed`, 403 `admin_required`). An
account the site does not have is a 404 `account_not_found`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from tenantry.platform.errors import ApiError
from tenantry.platform.personal_data_steps import require_signed_tenant
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import ADMIN, Admin, SignedIn, has_role
from tenantry.services.privacy import store
from tenantry.services.privacy.models import TransferRecord
from tenantry.services.privacy.schemas import NewErasure, NewExport, NewTransfers
from tenantry.services.privacy.work import Work
from tenantry.services.privacy.zips import download_link

PUBLIC = "/rest/privacy"
INTERNAL = "/internal/privacy"


def build_router(databases: Databases, work: Work) -> APIRouter:
    """The public and the operator's routes, bound to the requests and the work."""
    router = APIRouter()

    async def export_state(export_id: str) -> dict[str, Any]:
        with databases.session() as session:
            request = store.get(session, export_id, store.EXPORT)
            shown = store.shown(request)
        shown["download"] = None
        if request.status == store.DONE and request.file_id is not None:
            shown["download"] = await download_link(work.client, request.id, request.file_id)
        return shown

    @router.post(f"{PUBLIC}/exports", status_code=202)
    async def start_export(body: NewExport, user: SignedIn) -> dict[str, Any]:
        """Start exporting an account: an admin any of the site, an account itself."""
        if user.account_id != body.account_id and not has_role(user, ADMIN):
            raise ApiError(403, "not_allowed", "only a site admin may export another account")
        return await work.start_export(body.account_id, user.account_id)

    @router.get(f"{PUBLIC}/exports/{{export_id}}")
    async def show_export(export_id: str, user: SignedIn) -> dict[str, Any]:
        """An export's progress and, once done, a link to its zip (as its asker may see)."""
        shown = await export_state(export_id)
        if shown["account_id"] != user.account_id and not has_role(user, ADMIN):
            raise ApiError(404, "not_found", "the site has no such export")
        return shown

    @router.post(f"{PUBLIC}/erasures", status_code=201)
    async def erase(body: NewErasure, admin: Admin) -> dict[str, Any]:
        """Erase an account from every store; the answer is the signed receipt."""
        return await work.erase(body.account_id, body.content, admin.account_id)

    @router.get(f"{PUBLIC}/transfers")
    def list_transfers(admin: Admin) -> dict[str, Any]:
        """Every transfer of the site's personal data out of its home region (and every
        refused one), for its admins."""
        with databases.session() as session:
            return {"transfers": store.transfers(session)}

    @router.post(f"{INTERNAL}/transfers")
    def add_transfers(body: NewTransfers) -> dict[str, Any]:
        """Record transfers of the site named by the signed context: an edge's counts of the
        requests it forwarded (or refused) to the site's home region, or a move."""
        require_signed_tenant()
        with databases.session() as session:
            for count in body.records:
                row_id = store.transfer_id(
                    count.kind,
                    count.category,
                    count.source_region,
                    count.destination_region,
                    count.day,
                    count.outcome,
                )
                store.add_transfers(session, TransferRecord(id=row_id, **count.model_dump()))
        return {"recorded": len(body.records)}

    @router.post(f"{INTERNAL}/exports", status_code=202)
    async def operator_export(body: NewExport) -> dict[str, Any]:
        """The operator's export of an account of the site named by the signed context."""
        require_signed_tenant()
        return await work.start_export(body.account_id, None)

    @router.get(f"{INTERNAL}/exports/{{export_id}}")
    async def operator_show_export(export_id: str) -> dict[str, Any]:
        """An export's progress and link, for the operator."""
        require_signed_tenant()
        return await export_state(export_id)

    @router.post(f"{INTERNAL}/erasures", status_code=201)
    async def operator_erase(body: NewErasure) -> dict[str, Any]:
        """The operator's erasure of an account of the site named by the signed context."""
        require_signed_tenant()
        return await work.erase(body.account_id, body.content, None)

    @router.post(f"{INTERNAL}/erasures/replay")
    async def replay_erasures() -> dict[str, Any]:
        """Every erasure of the site's ledger run again: what each restore does before the site
        is served. A store's refusal is passed on with its reason."""
        require_signed_tenant()
        return await work.replay()

    return router
