"""Request bodies identity accepts; unknown fields and wrong types are refused."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

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


def _current_role_name(role: str) -> str:
    return "member" if role == "user" else role


Role = Annotated[Literal["admin", "member", "viewer", "user"], AfterValidator(_current_role_name)]
"""A role on the site. `user`, the old name of `member`, is still taken and stored as `member`."""


class NewAccount(BaseModel):
    """An account an admin adds to their site."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Email
    password: Password
    role: Role = "member"
    display_name: DisplayName | None = None


AccountId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
"""An account id in a URL: 32 lower-case hex digits, as identity makes them."""


class AccountPatch(BaseModel):
    """An admin gives an account of their site another role, or (de)activates it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    role: Role | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("name `role`, `active` or both")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class PasswordChange(BaseModel):
    """A signed-in person sets a new password, proving they know the current one."""

    model_config = ConfigDict(extra="forbid", strict=True)

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    new_password: Password
