"""The pages HTTP API under `/rest/pages`: spaces, the page tree, pages and their history.

Who may do what is `tenantry.platform.users`: any user of the site reads; members create
spaces and pages and save them; a page is deleted (to the site's trash) by an admin or the
account that created it. Bodies are documents (`document`), checked on every save, and served
with their rendering (`render`) beside them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import Member, SignedIn, require_admin_or_author
from tenantry.services.pages import store, trash
from tenantry.services.pages.document import validate_document
from tenantry.services.pages.history import diff
from tenantry.services.pages.identifiers import parse_page_id, parse_space_key
from tenantry.services.pages.moves import move_page
from tenantry.services.pages.records import StoredPage, TreeEntry
from tenantry.services.pages.render import to_html
from tenantry.services.pages.schemas import (
    NewPage,
    NewSpace,
    PageMove,
    PageOut,
    PageSave,
    SpaceOut,
    VersionRestore,
)
from tenantry.services.pages.search_terms import MAX_QUERY_TERMS
from tenantry.services.pages.trashing import Trashing
from tenantry.services.pages.views import PageViews

PREFIX = "/rest/pages"
MAX_VERSION = 2**31 - 1

VersionNumber = Annotated[int, Query(ge=1, le=MAX_VERSION)]


def build_router(
    databases: Databases, data_keys: DataKeys, trashing: Trashing, views: PageViews
) -> APIRouter:
    """The pages routes, storing through `databases`; sealed work runs in `data_keys.run`;
    each page read is reported to analytics through `views`."""
    router = APIRouter(prefix=PREFIX, tags=["pages"])

    @router.post("/spaces", status_code=201)
    async def create_space(body: NewSpace, _user: Member) -> SpaceOut:
        with databases.session() as session:
            return SpaceOut.of(store.create_space(session, body.key, body.name))

    @router.get("/spaces")
    async def list_spaces(_user: SignedIn) -> dict[str, list[SpaceOut]]:
        with databases.session() as session:
            return {"spaces": [SpaceOut.of(s) for s in store.list_spaces(session)]}

    @router.get("/spaces/{key}/tree")
    async def space_tree(key: str, _user: SignedIn) -> dict[str, Any]:
        space = parse_space_key(key)

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                return {"space": space, "pages": _nest(store.tree(session, keys, space))}

        return await data_keys.run(read)

    @router.post("/pages", status_code=201)
    async def create_page(body: NewPage, user: Member) -> PageOut:
        document = validate_document(body.body)

        def create(keys: TenantKeys) -> PageOut:
            with databases.session() as session:
                page = store.create_page(
                    session,
                    keys,
                    body.space,
                    body.parent,
                    (body.title, document),
                    user.account_id,
                )
                return _out(page)

        return await data_keys.run(create)

    @router.get("/pages/{page_id}")
    async def read_page(page_id: str, user: SignedIn) -> PageOut:
        ref = parse_page_id(page_id)

        def read(keys: TenantKeys) -> PageOut:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
            out = _out(page)
            views.record(page.id, page.space_key, user.account_id)
            return out

        return await data_keys.run(read)

    @router.put("/pages/{page_id}")
    async def save_page(page_id: str, body: PageSave, user: Member) -> PageOut:
        ref = parse_page_id(page_id)
        document = validate_document(body.body)

        def save(keys: TenantKeys) -> PageOut:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                if page.version != body.version:
                    raise store.version_conflict()
                saved = store.save_page(
                    session, keys, page, (body.title, document), user.account_id
                )
                return _out(saved)

        return await data_keys.run(save)

    @router.post("/pages/{page_id}/move")
    async def move(page_id: str, body: PageMove, _user: Member) -> PageOut:
        ref = parse_page_id(page_id)

        def place(keys: TenantKeys) -> PageOut:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                return _out(move_page(session, keys, page, body.parent, body.position))

        return await data_keys.run(place)

    @router.delete("/pages/{page_id}", status_code=204, response_class=Response)
    async def delete_page(page_id: str, user: Member) -> Response:
        ref = parse_page_id(page_id)

        def delete(keys: TenantKeys) -> None:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                require_admin_or_author(page.created_by)
                trash.trash_page(session, page, trashing.now(), user.account_id)

        trashing.prepare()
        await data_keys.run(delete)
        return Response(status_code=204)

    @router.get("/pages/{page_id}/versions")
    async def list_versions(page_id: str, _user: SignedIn) -> dict[str, Any]:
        ref = parse_page_id(page_id)

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                return {"page": page.id, "versions": store.list_versions(session, keys, page)}

        return await data_keys.run(read)

    @router.get("/pages/{page_id}/versions/{number}")
    async def read_version(page_id: str, number: int, _user: SignedIn) -> dict[str, Any]:
        ref = parse_page_id(page_id)
        wanted = _version_number(number)

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                version = store.get_version(session, keys, page, wanted)
                return {
                    "page": page.id,
                    "version": version.version,
                    "title": version.title,
                    "body": version.body,
                    "html": to_html(version.body),
                    "author": version.author,
                    "created_at": version.created_at,
                }

        return await data_keys.run(read)

    @router.get("/pages/{page_id}/diff")
    async def diff_versions(
        page_id: str,
        _user: SignedIn,
        from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
        to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_VERSION)],
    ) -> dict[str, Any]:
        ref = parse_page_id(page_id)

        def read(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                older = store.get_version(session, keys, page, from_version)
                newer = store.get_version(session, keys, page, to_version)
                return diff(older, newer)

        return await data_keys.run(read)

    @router.post("/pages/{page_id}/versions/{number}/restore")
    async def restore_version(
        page_id: str, number: int, body: VersionRestore, user: Member
    ) -> PageOut:
        ref = parse_page_id(page_id)
        wanted = _version_number(number)

        def restore(keys: TenantKeys) -> PageOut:
            with databases.session() as session:
                page = store.find_page(session, keys, ref)
                if page.version != body.version:
                    raise store.version_conflict()
                old = store.get_version(session, keys, page, wanted)
                saved = store.save_page(session, keys, page, (old.title, old.body), user.account_id)
                return _out(saved)

        return await data_keys.run(restore)

    @router.get("/search")
    async def search(
        _user: SignedIn,
        q: Annotated[str, Query(min_length=1, max_length=200)],
        space: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9]{1,9}$")] = None,
    ) -> dict[str, Any]:
        words = q.split()[:MAX_QUERY_TERMS]

        def find(keys: TenantKeys) -> dict[str, Any]:
            with databases.session() as session:
                found = store.search(session, keys, words, space)
                return {
                    "pages": [
                        {"id": p.id, "space": p.space_key, "title": p.title, "version": p.version}
                        for p in found
                    ]
                }

        return await data_keys.run(find)

    return router


def _out(page: StoredPage) -> PageOut:
    return PageOut.of(page, to_html(page.body))


def _version_number(number: int) -> int:
    if not 1 <= number <= MAX_VERSION:
        raise store.version_not_found(number)
    return number


def _nest(entries: list[TreeEntry]) -> list[dict[str, Any]]:
    """The flat tree as nested nodes, siblings by position; a page whose parent is not live
    (it is in the trash with another deletion) shows at the top."""
    children: dict[str, list[dict[str, Any]]] = {e.id: [] for e in entries}
    top: list[dict[str, Any]] = []
    for entry in entries:
        node = {"id": entry.id, "title": entry.title, "position": entry.position}
        node["children"] = children[entry.id]
        siblings = children.get(entry.parent_id, top) if entry.parent_id is not None else top
        siblings.append(node)
    return top
