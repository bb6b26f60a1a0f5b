"""Request bodies identity accepts; unknown fields and wrong types are refused."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tenantry.platform.text import OneLineText

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=254,
        pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$",
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1024)]
DisplayName = Annotated[
    OneLineText, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
]
"""A person's name as others see it (one line of text): personal data, sealed at rest."""
Site = Annotated[str, StringConstraints(min_length=1, max_length=63)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Signup(BaseModel):
    """A new site with its first admin account."""

    model_config = ConfigDict(extra="forbid", strict=True)

    site: Site
    email: Email
    password: Password
    display_name: DisplayName | None = None
    users_by_country: dict[Country, Annotated[int, Field(ge=0, le=1_000_000_000)]] | None = Field(
        default=None, max_length=300
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class Login(BaseModel):
    """Credentials for one site."""

    model_config = ConfigDict(extra="forbid", strict=True)

    site: Site
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class NewAccount(BaseModel):
    """An account an admin adds to their site."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Email
    password: Password
    role: Literal["admin", "user"] = "user"
    display_name: DisplayName | None = None


Role = Literal["admin", "user"]

AccountId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
"""An account id in a URL: 32 lower-case hex digits, as identity makes them."""


class RoleChange(BaseModel):
    """An admin gives an account of their site another role."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role
