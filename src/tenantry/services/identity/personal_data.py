"""The personal data identity keeps: each site's accounts (email, name, password hash), the
tokens they revoked, and the account ids its feeds and outboxes carry."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    AUDIT_OUTBOX,
    Holds,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
    step_routes,
)

_EXPORT, _ERASE = step_routes("identity")

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "accounts",
            subject="account_id",
            fields=(
                PersonalField("email", Holds.EMAIL, OnErase.SCRUB),
                PersonalField("email_index", Holds.EMAIL, OnErase.SCRUB),
                PersonalField("display_name", Holds.DISPLAY_NAME, OnErase.SCRUB),
                PersonalField("password_hash", Holds.CREDENTIAL, OnErase.SCRUB),
                PersonalField("token_generation", Holds.TOKEN, OnErase.SCRUB),
            ),
            note="the row stays, deactivated and emptied, so the id can never be reused and "
            "records elsewhere that kept it read as a former user",
        ),
        PersonalTable(
            "revoked_tokens",
            subject="account_id",
            fields=(PersonalField("token_id", Holds.TOKEN, OnErase.DELETE_ROW),),
        ),
        PersonalTable(
            "account_erasures",
            subject="account_id",
            fields=(PersonalField("erase_at", Holds.ACTIVITY, OnErase.DELETE_ROW),),
        ),
        PersonalTable(
            "account_changes",
            subject="account_id",
            fields=(PersonalField("at", Holds.ACTIVITY, OnErase.RETAIN),),
            note="ids and times only: the feed every edge follows to drop an account it "
            "holds, the erasure's own change included",
        ),
        PersonalTable(
            "kms_notices",
            subject="account_id",
            fields=(PersonalField("role", Holds.ACTIVITY, OnErase.RETAIN),),
            note="an id and a role, kept only until every region's kms has heard of the change",
        ),
        AUDIT_OUTBOX,
    ),
    logs="account ids in request lines and audit events, never emails, names or passwords; "
    "log files are appended under the data directory's logs/ until the operator rotates them",
    export_step=_EXPORT,
    erase_step=_ERASE,
)
