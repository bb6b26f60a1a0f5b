"""The personal data privacy keeps: which accounts were exported and erased, by whom, the
erasure receipts and the erasure ledger; the export zips themselves are media files."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    AUDIT_OUTBOX,
    Holds,
    NoPersonalData,
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
        PersonalTable(
            "erasure_ledger",
            subject="account_id",
            fields=(PersonalField("account_id", Holds.ACCOUNT_ID, OnErase.RETAIN),),
            note="the ledger of erasures every restore replays, so a restore never brings an "
            "erased account back; it names the account by id only, and is kept (in the shard's "
            "database and the global one) for as long as any backup could bring them back",
        ),
        AUDIT_OUTBOX,
    ),
    free=(
        NoPersonalData(
            "transfer_records",
            "counts of the site's data leaving its home region, by route class, regions and "
            "day; no account or person is named",
        ),
    ),
    logs="request ids, account ids and reason codes; logs are appended under the data "
    "directory's logs/ until the operator rotates them",
)
