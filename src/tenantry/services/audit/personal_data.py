"""The personal data audit keeps: each tenant's tamper-evident log names actors and targets by
account id."""

from __future__ import annotations

from tenantry.platform.personal_data import (
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
            "audit_events",
            subject="entry",
            fields=(PersonalField("entry", Holds.ACTIVITY, OnErase.RETAIN),),
            note="an entry names its actor and target by account id, never an email, a name "
            "or content (the event rules refuse them); entries are Merkle leaves a customer "
            "verifies, so they are kept, and once the account is erased its id leads nowhere",
        ),
    ),
    free=(
        NoPersonalData("audit_nodes", "hashes of subtrees"),
        NoPersonalData("audit_checkpoints", "signed tree heads"),
        NoPersonalData("audit_trees", "tree sizes per tenant"),
    ),
    logs="tenant ids and tree sizes; logs are appended under the data directory's logs/ until "
    "the operator rotates them",
)
