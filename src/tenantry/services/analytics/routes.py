"""The analytics HTTP API under `/rest/analytics`: views of a page per day, a space's top pages.

Who may read is who may read the pages: any signed-in user of the site (as pages allows). What
a site sees is only its own counts, through its tenant session; a page id of another site is,
to it, a page nobody viewed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tenantry.platform.storage.databases import Databases
from tenantry.platform.users import SignedIn
from tenantry.services.analytics import store
from tenantry.services.analytics.retention import day_of
from tenantry.services.analytics.schemas import (
    day_range,
    parse_limit,
    parse_page_id,
    parse_space_key,
)

PREFIX = "/rest/analytics"


def build_router(databases: Databases, clock: Callable[[], float] = time.time) -> APIRouter:
    """The analytics read routes, reading through `databases`; `clock` says what today is."""
    router = APIRouter(prefix=PREFIX, tags=["analytics"])

    @router.get("/pages/{page_id}")
    async def page_views(
        page_id: str,
        _user: SignedIn,
        start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    ) -> dict[str, Any]:
        """Views and unique viewers of a page on each day of the range."""
        page = parse_page_id(page_id)
        first, last = day_range(start, end, day_of(clock()))

        def read() -> dict[str, Any]:
            with databases.session() as session:
                days = store.page_days(session, page, first, last)
            return {
                "page": page,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "views": sum(int(day["views"]) for day in days),
                "days": days,
            }

        return await asyncio.to_thread(read)

    @router.get("/spaces/{key}")
    async def space_top(
        key: str,
        _user: SignedIn,
        start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
        limit: Annotated[str | None, Query(max_length=8)] = None,
    ) -> dict[str, Any]:
        """The space's most viewed pages over the range, most views first."""
        space = parse_space_key(key)
        first, last = day_range(start, end, day_of(clock()))
        most = parse_limit(limit)

        def read() -> dict[str, Any]:
            with databases.session() as session:
                pages = store.top_pages(session, space, first, last, most)
            return {
                "space": space,
                "from": first.isoformat(),
                "to": last.isoformat(),
                "limit": most,
                "pages": pages,
            }

        return await asyncio.to_thread(read)

    return router
