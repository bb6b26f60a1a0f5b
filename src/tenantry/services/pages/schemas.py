"""What the pages API accepts and answers: strict pydantic models with no unknown fields.

A page's `body` is taken as any JSON here and checked by `document.validate_document`, so a bad
body answers the format's own 422 (the JSON path of the first error and a reason code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from tenantry.platform.text import OneLineText
from tenantry.services.pages.records import StoredPage, StoredSpace

SPACE_KEY_PATTERN = r"^[A-Z][A-Z0-9]{1,9}$"
PAGE_ID_PATTERN = r"^[0-9a-f]{32}$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


SpaceKey = Annotated[str, StringConstraints(pattern=SPACE_KEY_PATTERN)]
Name = Annotated[
    OneLineText, StringConstraints(min_length=1, max_length=255), AfterValidator(_not_blank)
]
PageId = Annotated[str, StringConstraints(pattern=PAGE_ID_PATTERN)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NewSpace(_Request):
    """Body of `POST /spaces`."""

    key: SpaceKey
    name: Name


class NewPage(_Request):
    """Body of `POST /pages`; without `parent` the page goes at the top of its space."""

    space: SpaceKey
    title: Name
    body: JsonValue
    parent: PageId | None = None


class PageSave(_Request):
    """Body of `PUT /pages/{id}`: the new title and body, and the version they were made from."""

    title: Name
    body: JsonValue
    version: int = Field(ge=1)


class PageMove(_Request):
    """Body of `POST /pages/{id}/move`: the new parent (null: the top of the space) and the
    position among its children (absent: last)."""

    parent: PageId | None
    position: int | None = Field(default=None, ge=1, le=1_000_000)


class VersionRestore(_Request):
    """Body of `POST /pages/{id}/versions/{n}/restore`: the version the restore replaces."""

    version: int = Field(ge=1)


class SpaceOut(BaseModel):
    """A space as the API shows it."""

    key: str
    name: str

    @classmethod
    def of(cls, space: StoredSpace) -> SpaceOut:
        return cls(key=space.key, name=space.name)


class PageOut(BaseModel):
    """A page as the API shows it: its document (`body`) and that document rendered (`html`)."""

    id: str
    space: str
    parent: str | None
    position: int
    title: str
    body: dict[str, Any]
    html: str
    version: int
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, page: StoredPage, html: str) -> PageOut:
        return cls(
            id=page.id,
            space=page.space_key,
            parent=page.parent_id,
            position=page.position,
            title=page.title,
            body=page.body,
            html=html,
            version=page.version,
            created_by=page.created_by,
            updated_by=page.updated_by,
            created_at=page.created_at,
            updated_at=page.updated_at,
        )
