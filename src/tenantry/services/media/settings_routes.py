"""A site's media settings: read them, replace them all (PUT), or change some (PATCH).

Both bodies are strict (`"yes"` is not a boolean, `"5"` is not a number) and refuse unknown
fields. PUT names every setting, so nothing is reset by being left out; PATCH names only what
changes. A limit of `null` falls back to the cloud's default; a limit above the operator's is
refused (see `Media.change_settings`).

(No `from __future__ import annotations` here: FastAPI resolves the routes' annotations where
they are written.)
"""

from typing import Annotated, Self

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tenantry.platform.context import current_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.users import Admin
from tenantry.services.media.service import Media

Bytes = Annotated[int, Field(ge=1)]


class SettingsReplace(BaseModel):
    """Body of `PUT /settings`: every setting, each given (a limit may be null)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    view_only: bool
    max_file_bytes: Bytes | None
    quota_bytes: Bytes | None


class SettingsPatch(BaseModel):
    """Body of `PATCH /settings`: the settings that change, at least one."""

    model_config = ConfigDict(extra="forbid", strict=True)

    view_only: bool | None = None
    max_file_bytes: Bytes | None = None
    quota_bytes: Bytes | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("a patch must name at least one setting")
        if "view_only" in self.model_fields_set and self.view_only is None:
            raise ValueError("view_only cannot be null")
        return self


def build_settings_router(media: Media, prefix: str) -> APIRouter:
    """The settings routes under `prefix`."""
    router = APIRouter(prefix=prefix)

    @router.get("/settings")
    def get_settings() -> dict[str, object]:
        """The site's media settings and the limits in force."""
        if current_tenant.get() is None:
            raise ApiError(400, "tenant_required", "media routes act within a tenant")
        return _document(media)

    @router.put("/settings")
    def replace_settings(body: SettingsReplace, _: Admin) -> dict[str, object]:
        """Replace every media setting of the site (admins only)."""
        media.change_settings(body.model_dump())
        return _document(media)

    @router.patch("/settings")
    def change_settings(body: SettingsPatch, _: Admin) -> dict[str, object]:
        """Change the media settings named, keeping the others (admins only)."""
        media.change_settings(body.model_dump(include=body.model_fields_set))
        return _document(media)

    return router


def _document(media: Media) -> dict[str, object]:
    settings = media.settings()
    limits = media.limits()
    return {
        "view_only": settings.view_only,
        "max_file_bytes": limits.max_file_bytes,
        "quota_bytes": limits.quota_bytes,
    }
