"""tcs keeps the catalog of sites (names, regions and states, no people) and the transparency
register, which names accounts by id."""

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
        AUDIT_OUTBOX,
        PersonalTable(
            "legal_requests",
            subject="accounts_named",
            fields=(PersonalField("accounts_named", Holds.ACCOUNT_ID, OnErase.RETAIN),),
            note="the transparency register names the accounts a government or legal request "
            "named, by id only; it is kept as the law the request came under requires, read "
            "by the operator only, and never says to the tenant whether it names an account",
        ),
    ),
    free=(
        NoPersonalData("tenants", "a site's name, region, shard and status"),
        NoPersonalData("changes", "the feed of site changes edges follow"),
    ),
    logs="site names and cloud ids; logs are appended under the data directory's logs/ until "
    "the operator rotates them",
)
