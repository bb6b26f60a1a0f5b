"""The personal data analytics keeps: which accounts viewed which page on which recent day,
only as long as that day's unique viewer count can still grow (`retention`)."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    Holds,
    NoPersonalData,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
    step_routes,
)
from tenantry.services.analytics.retention import RECEIPT_DAYS, VIEWER_DAYS

_EXPORT, _ERASE = step_routes("analytics")

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "page_viewers",
            subject="account_id",
            fields=(
                PersonalField("account_id", Holds.ACCOUNT_ID, OnErase.DELETE_ROW),
                PersonalField("page_id", Holds.ACTIVITY, OnErase.DELETE_ROW),
                PersonalField("day", Holds.ACTIVITY, OnErase.DELETE_ROW),
            ),
            note=f"kept through the day viewed and the {VIEWER_DAYS} days after it (UTC), only "
            "so a second view by the same account is not counted as a new viewer, then dropped "
            "by the retention loop (within an hour); erasure drops them at once, and the views "
            "and unique viewer counts they were part of stay (they name nobody)",
        ),
    ),
    free=(
        NoPersonalData(
            "page_days", "views and unique viewer counts per page per day, naming nobody"
        ),
        NoPersonalData(
            "view_receipts",
            f"random ids of views counted (kept {RECEIPT_DAYS} days), naming neither the "
            "viewer nor the page",
        ),
        NoPersonalData("viewer_tenants", "the tenants the retention loop visits"),
    ),
    logs="page ids and counts in request lines and retention lines, never an account id of a "
    "viewer; logs are appended under the data directory's logs/ until the operator rotates them",
    export_step=_EXPORT,
    erase_step=_ERASE,
)
