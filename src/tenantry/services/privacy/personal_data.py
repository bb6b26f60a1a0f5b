"""The personal data privacy keeps: which accounts were exported and erased, by whom, and the
erasure receipts; the export zips themselves are media files."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    AUDIT_OUTBOX,
    Holds,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
)

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "privacy_requests",
            subject="account_id",
            fields=(
                PersonalField("account_id", Holds.ACCOUNT_ID, OnErase.RETAIN),
                PersonalField("requested_by", Holds.ACCOUNT_ID, OnErase.RETAIN),
                PersonalField("receipt", Holds.ACTIVITY, OnErase.RETAIN),
            ),
            note="an erasure itself erases the account's exports (their rows, and their zips "
            "in media); the erasure's row and its receipt are kept as the proof of it, and "
            "name accounts by id only",
        ),
        AUDIT_OUTBOX,
    ),
    logs="request ids, account ids and reason codes; logs are appended under the data "
    "directory's logs/ until the operator rotates them",
)
