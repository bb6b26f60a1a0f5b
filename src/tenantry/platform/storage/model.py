"""Column conventions every service's models share, so tenant scoping works the same everywhere.

Each service declares its own `DeclarativeBase` subclass (its own metadata, its own database) and
mixes `TenantOwned` into every table that holds a tenant's data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

TENANT_ID_LENGTH = 64


RESTORE_POLICY = "tenant_restore"
"""The `Table.info` key that says how a tenant restore treats a tenant's rows of that table."""
KEEP_LIVE = "keep_live"
"""Leave the rows as they are now: what a restore must never undo (data keys destroyed or
retired, tokens revoked)."""
KEEP_LIVE_ON_RESTORE = {RESTORE_POLICY: KEEP_LIVE}
KEEP_LIVE_COLUMNS = "tenant_restore_keep_live_columns"
"""The `Table.info` key naming columns whose value today a restore keeps for every row that
still exists (an account's token generation: tokens revoked since stay revoked)."""


class TenantOwned:
    """Marks a mapped class as one tenant's data, which the tenant session then scopes.

    `tenant_id` sorts first in the table, so it leads the composite primary key
    `(tenant_id, ...)`: rows of one tenant cluster together and no key can be shared by two
    tenants. The tenant session fills it in on insert and filters every statement by it.
    """

    tenant_id: Mapped[str] = mapped_column(
        String(TENANT_ID_LENGTH), primary_key=True, sort_order=-1000
    )


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware, whatever the database does.

    SQLite keeps no time zone; without this every read would return naive values that code
    could mistake for local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes and normalise aware ones to UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UtcDateTime needs an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Hand back an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time as an aware UTC datetime, the only kind the models store."""
    return datetime.now(UTC)
