"""The shapes the analytics service reads: a batch of views as pages reports them, and the
query of a range of days (checked here, so a bad one is a 422 with its reason)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tenantry.platform.errors import ApiError

PAGE_ID_PATTERN = r"^[0-9a-f]{32}$"
"""A page id as pages makes them."""
SPACE_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
"""A space key as pages accepts them."""
ACCOUNT_ID_PATTERN = r"^[0-9a-f]{32}$"
VIEW_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_BATCH = 500
"""The most views one delivery carries."""
DEFAULT_DAYS = 30
"""The range a query without `from` covers: the 30 days ending with `to` (today by default)."""
MAX_DAYS = 366
"""The longest range one query may cover."""
DEFAULT_TOP = 10
MAX_TOP = 100

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGE_ID = re.compile(PAGE_ID_PATTERN)
_SPACE_KEY = re.compile(SPACE_KEY_PATTERN)
_LIMIT = re.compile(r"^[0-9]{1,3}$")


class ViewIn(BaseModel):
    """One view: its id (the same on every delivery of it), the page and its space, the
    account that viewed it (None once that account was erased), and when (epoch seconds)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=VIEW_ID_PATTERN)]
    page: Annotated[str, StringConstraints(pattern=PAGE_ID_PATTERN)]
    space: Annotated[str, StringConstraints(pattern=SPACE_KEY_PATTERN)]
    account: Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)] | None
    at: float = Field(ge=0, le=2**40)


class ViewBatch(BaseModel):
    """The views of one tenant that pages delivers at once."""

    model_config = ConfigDict(extra="forbid")

    views: list[ViewIn] = Field(max_length=MAX_BATCH)


def parse_day(value: str, name: str) -> date:
    """A `YYYY-MM-DD` date from the query, or 422 `invalid_date` naming the parameter."""
    if not _DATE.fullmatch(value):
        raise ApiError(422, "invalid_date", f"{name} must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "invalid_date", f"{name} is not a date of the calendar") from None


def day_range(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The days `from`..`to` of a query (both included): `to` defaults to today, `from` to
    `DEFAULT_DAYS` days ending with `to`. A range that ends before it starts is 422
    `invalid_range`; one longer than `MAX_DAYS` is 422 `range_too_long`."""
    last = today if end is None else parse_day(end, "to")
    first = last - timedelta(days=DEFAULT_DAYS - 1) if start is None else parse_day(start, "from")
    if first > last:
        raise ApiError(422, "invalid_range", "from must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(422, "range_too_long", f"a range covers at most {MAX_DAYS} days")
    return first, last


def parse_limit(value: str | None) -> int:
    """How many pages a top list holds: 1..`MAX_TOP`, `DEFAULT_TOP` if not given; else 422
    `invalid_limit`."""
    if value is None:
        return DEFAULT_TOP
    if not _LIMIT.fullmatch(value) or not 1 <= int(value) <= MAX_TOP:
        raise ApiError(422, "invalid_limit", f"limit must be a whole number 1..{MAX_TOP}")
    return int(value)


def parse_page_id(value: str) -> str:
    """A page id from a URL, or 404 `page_not_found` (no such id can exist)."""
    if not _PAGE_ID.fullmatch(value):
        raise ApiError(404, "page_not_found", "no such page")
    return value


def parse_space_key(value: str) -> str:
    """A space key from a URL, or 404 `space_not_found` (no such key can exist)."""
    if not _SPACE_KEY.fullmatch(value):
        raise ApiError(404, "space_not_found", "no such space")
    return value
