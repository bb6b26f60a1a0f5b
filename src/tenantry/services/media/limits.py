"""How big a file may be and how much a tenant may store: defaults from the environment, and
per-tenant overrides kept in the tenant's media settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_FILE_VARIABLE = "TENANTRY_MEDIA_MAX_FILE_BYTES"
QUOTA_VARIABLE = "TENANTRY_MEDIA_QUOTA_BYTES"
DEFAULT_MAX_FILE_BYTES = 200 * 1024 * 1024
DEFAULT_QUOTA_BYTES = 10 * 1024 * 1024 * 1024
MAX_CHUNK_BYTES = 8 * 1024 * 1024
MIN_CHUNK_BYTES = 64 * 1024
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """The largest single file, and the most a tenant may keep in all, in bytes."""

    max_file_bytes: int
    quota_bytes: int

    def with_overrides(self, max_file_bytes: int | None, quota_bytes: int | None) -> Limits:
        """These limits with a tenant's own values where it has them, never above these (an
        operator who lowers the defaults lowers every site's own limits with them)."""
        return Limits(
            min(max_file_bytes, self.max_file_bytes)
            if max_file_bytes is not None
            else self.max_file_bytes,
            min(quota_bytes, self.quota_bytes) if quota_bytes is not None else self.quota_bytes,
        )


def default_limits(env: Mapping[str, str] = os.environ) -> Limits:
    """The defaults for every tenant, from the environment when set."""
    return Limits(
        _positive(env, MAX_FILE_VARIABLE, DEFAULT_MAX_FILE_BYTES),
        _positive(env, QUOTA_VARIABLE, DEFAULT_QUOTA_BYTES),
    )


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive number of bytes, not {raw!r}")
    return int(raw)
