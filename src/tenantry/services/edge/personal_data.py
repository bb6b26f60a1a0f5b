"""The edge keeps no tables; what it holds of people is in memory and in its logs."""

from __future__ import annotations

from tenantry.platform.personal_data import PersonalData

PERSONAL_DATA = PersonalData(
    logs="request lines with the tenant and the token's account id, never bodies, emails or "
    "passwords; the account cache and login throttle hold an account's id, role and standing "
    "in memory for seconds, dropped when identity's account feed names the account; metrics "
    "count requests by service, method and status only; logs are appended under the data "
    "directory's logs/ until the operator rotates them",
)
