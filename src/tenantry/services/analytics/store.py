"""Every statement the analytics service runs, on the tenant's shard through a tenant session.

Counting a batch of views is one transaction: the ids already counted are skipped (so a batch
delivered again counts nothing twice), each new view adds one to its page's day, and an account
not yet among that day's viewers adds one viewer too, while the day's viewers are still kept.
Two deliveries racing to create the same row fail one transaction whole (the key is unique);
its sender retries it, and then it finds its views counted or counts them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import bindparam, delete, func, select, update

from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.analytics.models import PageDay, PageViewer, ViewReceipt


@dataclass(frozen=True, slots=True)
class View:
    """One view of a page as pages reported it: its id, page, space, viewer and day (UTC)."""

    id: str
    page: str
    space: str
    account: str | None
    day: str


@dataclass(slots=True)
class _DayTally:
    """What a batch adds to one page's day."""

    space: str
    views: int = 0
    accounts: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Counted:
    """What counting a batch did: views counted, views skipped as already counted, and new
    viewers."""

    counted: int
    repeated: int
    viewers: int


def count_views(session: TenantSession, views: Iterable[View], today: str, since: str) -> Counted:
    """Count the views not counted before; accounts count as viewers on days from `since` on
    (older days' viewers are no longer kept, so there only the views count)."""
    batch: dict[str, View] = {}
    for view in views:
        batch.setdefault(view.id, view)
    if not batch:
        return Counted(0, 0, 0)
    seen = {
        str(row.view_id)
        for row in session.rows(
            select(ViewReceipt.view_id).where(ViewReceipt.view_id.in_(list(batch)))
        )
    }
    fresh = [view for view_id, view in batch.items() if view_id not in seen]
    repeated = len(batch) - len(fresh)
    if not fresh:
        return Counted(0, repeated, 0)
    session.insert_rows(ViewReceipt, [{"view_id": v.id, "received_day": today} for v in fresh])
    tallies: dict[tuple[str, str], _DayTally] = {}
    for view in fresh:
        tally = tallies.setdefault((view.page, view.day), _DayTally(view.space))
        tally.space = view.space
        tally.views += 1
        if view.account is not None and view.day >= since:
            tally.accounts.add(view.account)
    viewers = 0
    for (page, day), tally in tallies.items():
        new = _new_viewers(session, page, day, tally.accounts)
        viewers += len(new)
        _add_to_day(session, page, day, tally.space, tally.views, len(new))
    return Counted(len(fresh), repeated, viewers)


def _new_viewers(session: TenantSession, page: str, day: str, accounts: set[str]) -> list[str]:
    """Record which of `accounts` had not viewed `page` on `day`; answer those."""
    if not accounts:
        return []
    known = {
        str(row.account_id)
        for row in session.rows(
            select(PageViewer.account_id).where(
                PageViewer.page_id == page,
                PageViewer.day == day,
                PageViewer.account_id.in_(sorted(accounts)),
            )
        )
    }
    new = sorted(accounts - known)
    session.insert_rows(
        PageViewer, [{"page_id": page, "day": day, "account_id": account} for account in new]
    )
    return new


def _add_to_day(
    session: TenantSession, page: str, day: str, space: str, views: int, viewers: int
) -> None:
    added = session.rows(
        _ADD_TO_DAY,
        {"page": page, "the_day": day, "space": space, "more_views": views, "more": viewers},
    )
    if added.rowcount == 0:
        session.insert_rows(
            PageDay,
            [
                {
                    "page_id": page,
                    "day": day,
                    "space_key": space,
                    "views": views,
                    "unique_viewers": viewers,
                }
            ],
        )


_ADD_TO_DAY = (
    update(PageDay)
    .where(PageDay.page_id == bindparam("page"), PageDay.day == bindparam("the_day"))
    .values(
        views=PageDay.views + bindparam("more_views"),
        unique_viewers=PageDay.unique_viewers + bindparam("more"),
        space_key=bindparam("space"),
    )
)


def page_days(
    session: TenantSession, page: str, start: date, end: date
) -> list[dict[str, int | str]]:
    """Every day of `start`..`end` (both included) with the page's views and unique viewers
    (zero on a day without views)."""
    found = {
        str(row.day): (int(row.views), int(row.unique_viewers))
        for row in session.rows(
            select(PageDay.day, PageDay.views, PageDay.unique_viewers).where(
                PageDay.page_id == page,
                PageDay.day >= start.isoformat(),
                PageDay.day <= end.isoformat(),
            )
        )
    }
    days: list[dict[str, int | str]] = []
    for offset in range((end - start).days + 1):
        day = (start + timedelta(days=offset)).isoformat()
        views, viewers = found.get(day, (0, 0))
        days.append({"day": day, "views": views, "unique_viewers": viewers})
    return days


def top_pages(
    session: TenantSession, space: str, start: date, end: date, limit: int
) -> list[dict[str, int | str]]:
    """The space's most viewed pages over `start`..`end`, most views first (ties by id)."""
    views = func.sum(PageDay.views).label("total_views")
    viewer_days = func.sum(PageDay.unique_viewers).label("total_viewers")
    rows = session.rows(
        select(PageDay.page_id, views, viewer_days)
        .where(
            PageDay.space_key == space,
            PageDay.day >= start.isoformat(),
            PageDay.day <= end.isoformat(),
        )
        .group_by(PageDay.page_id)
        .order_by(views.desc(), PageDay.page_id)
        .limit(limit)
    )
    return [
        {
            "page": str(row.page_id),
            "views": int(row.total_views),
            "viewer_days": int(row.total_viewers),
        }
        for row in rows
    ]


def expire(session: TenantSession, viewers_before: str, receipts_before: str) -> tuple[int, int]:
    """Drop the viewers of days before `viewers_before` and the receipts of views received
    before `receipts_before`; how many of each went."""
    viewers = session.rows(delete(PageViewer).where(PageViewer.day < viewers_before)).rowcount
    receipts = session.rows(
        delete(ViewReceipt).where(ViewReceipt.received_day < receipts_before)
    ).rowcount
    return int(viewers), int(receipts)


def kept(session: TenantSession) -> int:
    """How many viewer and receipt rows the tenant still has (zero: nothing left to expire)."""
    viewers = session.rows(select(func.count()).select_from(PageViewer)).scalar_one()
    receipts = session.rows(select(func.count()).select_from(ViewReceipt)).scalar_one()
    return int(viewers) + int(receipts)


def viewer_rows(session: TenantSession, account: str) -> list[dict[str, str]]:
    """The pages and days an account is still kept as a viewer of (its export)."""
    rows = session.rows(
        select(PageViewer.page_id, PageViewer.day)
        .where(PageViewer.account_id == account)
        .order_by(PageViewer.day, PageViewer.page_id)
    )
    return [{"page_id": str(row.page_id), "day": str(row.day)} for row in rows]


def forget_viewer(session: TenantSession, account: str) -> int:
    """Drop every viewer row of an account (its erasure): the counts stay as they are."""
    return int(session.rows(delete(PageViewer).where(PageViewer.account_id == account)).rowcount)
