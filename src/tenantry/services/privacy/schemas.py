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
