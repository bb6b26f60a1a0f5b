"""What the privacy routes take: the public contract of `/rest/privacy/...`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantry.platform.personal_data_steps import ACCOUNT_ID


class NewExport(BaseModel):
    """Export everything held about one account of the site."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ACCOUNT_ID)


class NewErasure(BaseModel):
    """Erase one account of the site; `content: erase` takes what it wrote and uploaded too."""

    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(pattern=ACCOUNT_ID)
    content: Literal["keep", "erase"] = "keep"


REGION = r"^[a-z][a-z0-9-]{0,31}$"
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


class TransferCount(BaseModel):
    """Requests of one route class, pair, day and outcome that an edge counted."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["request", "move"] = "request"
    category: str = Field(min_length=1, max_length=64)
    source_region: str = Field(pattern=REGION)
    destination_region: str = Field(pattern=REGION)
    legal_basis: Literal["adequacy", "scc", "none"]
    outcome: Literal["transferred", "refused"]
    day: str = Field(pattern=DAY)
    volume: int = Field(ge=1, le=2**31 - 1)
    volume_unit: Literal["requests", "rows"] = "requests"
    first_at: float = Field(ge=0)
    last_at: float = Field(ge=0)


class NewTransfers(BaseModel):
    """Transfer records to add to the site's (an edge's flush, or a move's record)."""

    model_config = ConfigDict(extra="forbid")

    records: list[TransferCount] = Field(min_length=1, max_length=1000)
