"""The personal data kms keeps: which account owns each root key version, nothing else."""

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
            "root_keys",
            subject="owner",
            fields=(PersonalField("owner", Holds.ACTIVITY, OnErase.RETAIN),),
            note="an account id only; when the owning account is deactivated or deleted, "
            "identity tells kms and the region rotates the key to a new version with no "
            "owner, so an erased account owns no key in use; old versions keep the id",
        ),
        AUDIT_OUTBOX,
    ),
    free=(
        NoPersonalData("data_keys", "wrapped tenant data keys"),
        NoPersonalData("key_holders", "tenant ids"),
        NoPersonalData("customer_keys", "a tenant's customer-managed key reference"),
    ),
    logs="key ids, versions and tenant ids, never key material or people; logs are appended "
    "under the data directory's logs/ until the operator rotates them",
)
