"""tcs keeps the catalog of sites: names, regions and states, no people."""

from __future__ import annotations

from tenantry.platform.personal_data import AUDIT_OUTBOX, NoPersonalData, PersonalData

PERSONAL_DATA = PersonalData(
    tables=(AUDIT_OUTBOX,),
    free=(
        NoPersonalData("tenants", "a site's name, region, shard and status"),
        NoPersonalData("changes", "the feed of site changes edges follow"),
    ),
    logs="site names and cloud ids; logs are appended under the data directory's logs/ until "
    "the operator rotates them",
)
