"""Request bodies tcs accepts; anything else is refused before it reaches the catalog."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class NewTenant(BaseModel):
    """A site to add: where its users are, or a pinned region."""

    model_config = ConfigDict(extra="forbid", strict=True)

    site: Annotated[str, StringConstraints(min_length=1, max_length=63)]
    users_by_country: dict[Country, Annotated[int, Field(ge=0, le=1_000_000_000)]] | None = Field(
        default=None, max_length=300
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class StatusChange(BaseModel):
    """A new status for a tenant (`restoring` while `tenant restore` puts its data back;
    deleting and purging have routes of their own)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: Literal["active", "suspended", "restoring"]


class KeyAvailability(BaseModel):
    """Whether a tenant's own key works (kms says so when it finds it revoked or back)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    available: bool


ShardName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")]


MovedCounts = dict[
    Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")],
    Annotated[int, Field(ge=0, le=1 << 62)],
]


class HomeChange(BaseModel):
    """A move's switch: the site's new shard, taken only if `from_shard` is still its home;
    a shard of another region only with `to_region` naming it (and `unpin` for a pinned site).
    `moved` counts what the move copied (rows, blobs, bytes), for the audit log."""

    model_config = ConfigDict(extra="forbid", strict=True)

    from_shard: ShardName
    to_shard: ShardName
    to_region: ShardName | None = None
    unpin: bool = False
    moved: MovedCounts = Field(default_factory=dict, max_length=32)


class MoveStart(BaseModel):
    """A move about to copy the site from `from_shard` (its home) to `to_shard`; a shard of
    another region only with `to_region` naming it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    from_shard: ShardName
    to_shard: ShardName
    to_region: ShardName | None = None
