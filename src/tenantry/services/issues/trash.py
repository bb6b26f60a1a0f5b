"""A site's trash: deleted issues, comments and attachments, restorable until purged for good.

Deleting moves a thing here rather than erasing it: an issue or a comment keeps its row, marked
deleted (no read or search finds it); an attachment stays in media, marked trashed there (media
neither lists nor serves it). Each gets a `trash_items` row saying what it was, when it was
deleted and by whom. Restoring puts it back where it was; purging (the loop in `trash_purges`,
once `[retention] trash_days` have passed, or an admin at once) erases it: the rows go, and its
blobs go from media through the attachment-deletion outbox, which keeps trying until media has
done it.

Everything here runs on the current tenant's session, so one site's trash can never show,
restore or purge another's item: to it, another site's id does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update

from tenantry.platform.cursors import ListCursors, Listing, bad_cursor
from tenantry.platform.data_keys import TenantKeys
from tenantry.platform.errors import ApiError
from tenantry.platform.sealing import open_text, seal_text
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.attachment_deletions import collection_target, file_target
from tenantry.services.issues.models import Comment, Issue, TrashItem

ISSUE = "issue"
COMMENT = "comment"
ATTACHMENT = "attachment"
TITLE_CHARACTERS = 200
"""How much of a comment's body the trash keeps to say what it was."""

_COLUMNS = (
    TrashItem.id,
    TrashItem.kind,
    TrashItem.issue_id,
    TrashItem.issue_key,
    TrashItem.item_id,
    TrashItem.title,
    TrashItem.deleted_at,
    TrashItem.deleted_by,
)
_BY_ID = select(*_COLUMNS).where(TrashItem.id == bindparam("trash_id"))
_REMOVE = delete(TrashItem).where(TrashItem.id == bindparam("trash_id"))
_REMOVE_OF_ISSUE = delete(TrashItem).where(TrashItem.issue_id == bindparam("issue_id"))
_ISSUE_DELETED_AT = select(Issue.deleted_at).where(Issue.id == bindparam("issue_id"))
_UNTRASH_ISSUE = update(Issue).where(Issue.id == bindparam("issue_id")).values(deleted_at=None)
_UNTRASH_COMMENT = (
    update(Comment).where(Comment.id == bindparam("comment_id")).values(deleted_at=None)
)
_ERASE_ISSUE = delete(Issue).where(Issue.id == bindparam("issue_id"))
_ERASE_COMMENT = delete(Comment).where(Comment.id == bindparam("comment_id"))
_DUE = (
    select(TrashItem.id)
    .where(TrashItem.deleted_at <= bindparam("deleted_before"))
    .order_by(TrashItem.deleted_at, TrashItem.id)
)
_COUNT = select(func.count()).select_from(TrashItem)


@dataclass(frozen=True, slots=True)
class TrashEntry:
    """One item in the trash; `title` is what it was (an issue's summary, a comment's first
    words, an attachment's file name)."""

    id: str
    kind: str
    issue_id: str
    issue_key: str
    item_id: str
    title: str
    deleted_at: float
    deleted_by: str

    def public(self) -> dict[str, Any]:
        """The item as the API shows it."""
        when = datetime.fromtimestamp(self.deleted_at, UTC).isoformat()
        return {
            "id": self.id,
            "kind": self.kind,
            "issue": self.issue_key,
            "item_id": self.item_id,
            "title": self.title,
            "deleted_at": when,
            "deleted_by": self.deleted_by,
        }


def put(
    session: TenantSession,
    keys: TenantKeys,
    kind: str,
    issue: tuple[str, str],
    item: tuple[str, str],
    deleted: tuple[float, str],
) -> str:
    """Add an item to the trash: its kind, its issue (id, key), itself (id, title), and when
    and by whom it was deleted; its trash id."""
    trash_id = uuid.uuid4().hex
    session.insert_rows(
        TrashItem,
        [
            {
                "id": trash_id,
                "kind": kind,
                "issue_id": issue[0],
                "issue_key": issue[1],
                "item_id": item[0],
                "title": seal_text(keys, "trash_items", trash_id, "title", item[1]),
                "deleted_at": deleted[0],
                "deleted_by": deleted[1],
            }
        ],
    )
    return trash_id


def trashed_attachments(session: TenantSession, issue_id: str) -> list[str]:
    """The media file ids of an issue's attachments that are in the trash on their own."""
    query = select(TrashItem.item_id).where(
        TrashItem.issue_id == issue_id, TrashItem.kind == ATTACHMENT
    )
    return [str(file_id) for file_id in session.rows(query).scalars()]


def remove(session: TenantSession, trash_id: str) -> None:
    """Drop an item's trash row (it was restored, or its thing was put back another way)."""
    session.rows(_REMOVE, {"trash_id": trash_id})


def find(session: TenantSession, keys: TenantKeys, trash_id: str) -> TrashEntry:
    """An item of this site's trash; 404 `trash_item_not_found` for any other id."""
    row = session.rows(_BY_ID, {"trash_id": trash_id}).first() if _is_id(trash_id) else None
    if row is None:
        raise not_found()
    return _entry(row, keys)


def not_found() -> ApiError:
    """The answer for an id the current site's trash does not hold (another site's too)."""
    return ApiError(404, "trash_item_not_found", "this site's trash has no such item")


def find_unopened(session: TenantSession, trash_id: str) -> TrashEntry | None:
    """An item of this site's trash with its title left sealed (empty): enough to erase it
    without the site's keys; None when there is none (restored, or gone with its issue)."""
    row = session.rows(_BY_ID, {"trash_id": trash_id}).first() if _is_id(trash_id) else None
    return None if row is None else TrashEntry(*(*tuple(row)[:5], "", *tuple(row)[6:]))


def page(
    session: TenantSession,
    keys: TenantKeys,
    deleted_by: str | None,
    page_of: tuple[ListCursors, int, str | None],
) -> tuple[list[TrashEntry], str | None]:
    """One page of the trash, oldest deletion first (only `deleted_by`'s, if given), and the
    cursor of the next page (None on the last; good only for the same `deleted_by`)."""
    cursors, limit, cursor = page_of
    listing = Listing.of_tenant("trash", {"deleted_by": deleted_by})
    query = select(*_COLUMNS)
    if deleted_by is not None:
        query = query.where(TrashItem.deleted_by == deleted_by)
    if cursor is not None:
        after_text, after_id = cursors.open(cursor, listing, (str, str))
        after_time = _cursor_float(after_text)
        query = query.where(
            (TrashItem.deleted_at > after_time)
            | ((TrashItem.deleted_at == after_time) & (TrashItem.id > after_id))
        )
    rows = list(session.rows(query.order_by(TrashItem.deleted_at, TrashItem.id).limit(limit + 1)))
    entries = [_entry(row, keys) for row in rows[:limit]]
    if len(rows) <= limit:
        return entries, None
    return entries, cursors.seal(listing, repr(entries[-1].deleted_at), entries[-1].id)


def restore_rows(session: TenantSession, entry: TrashEntry) -> None:
    """Put an issue or comment back where it was; 409 `issue_in_trash` for a comment or
    attachment whose issue is itself in the trash (restore the issue first)."""
    if entry.kind != ISSUE:
        require_issue_live(session, entry)
    if entry.kind == ISSUE:
        session.rows(_UNTRASH_ISSUE, {"issue_id": entry.item_id})
    elif entry.kind == COMMENT:
        session.rows(_UNTRASH_COMMENT, {"comment_id": entry.item_id})
    remove(session, entry.id)


def require_issue_live(session: TenantSession, entry: TrashEntry) -> None:
    """409 `issue_in_trash` when the item's issue is in the trash too."""
    deleted_at = session.rows(_ISSUE_DELETED_AT, {"issue_id": entry.issue_id}).first()
    if deleted_at is None or deleted_at[0] is not None:
        raise ApiError(
            409,
            "issue_in_trash",
            f"its issue {entry.issue_key} is in the trash too; restore the issue first",
        )


def erase(session: TenantSession, entry: TrashEntry) -> str | None:
    """Erase a trashed item's rows for good; the media it leaves to delete (an outbox target
    for `AttachmentDeletions.record`), if any."""
    if entry.kind == ISSUE:
        # Its comments and labels go with it (foreign keys cascade), and so do their trash rows.
        session.rows(_ERASE_ISSUE, {"issue_id": entry.item_id})
        session.rows(_REMOVE_OF_ISSUE, {"issue_id": entry.item_id})
        return collection_target(entry.issue_key)
    remove(session, entry.id)
    if entry.kind == COMMENT:
        session.rows(_ERASE_COMMENT, {"comment_id": entry.item_id})
        return None
    return file_target(entry.issue_key, entry.item_id)


def due(session: TenantSession, deleted_before: float, limit: int) -> list[str]:
    """Ids of up to `limit` items deleted before `deleted_before`, oldest first."""
    found = session.rows(_DUE.limit(limit), {"deleted_before": deleted_before}).scalars()
    return [str(trash_id) for trash_id in found]


def count(session: TenantSession) -> int:
    """How many items the current tenant's trash holds."""
    return int(session.rows(_COUNT).scalar_one())


def _entry(row: Any, keys: TenantKeys) -> TrashEntry:
    entry = TrashEntry(*row)
    title = open_text(keys, "trash_items", entry.id, "title", row.title)
    return TrashEntry(*(*tuple(row)[:5], title, *tuple(row)[6:]))


def _cursor_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise bad_cursor() from None


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)
