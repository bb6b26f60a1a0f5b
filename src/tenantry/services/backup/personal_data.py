"""backup keeps no tables of its own: it copies every other store's, sealed."""

from __future__ import annotations

from tenantry.platform.personal_data import PersonalData

PERSONAL_DATA = PersonalData(
    logs="database and repository names, sizes and times, never rows; the backup repositories "
    "hold sealed copies of every database and blob for the retention window (30 days by "
    "default), so an erased person's rows age out of them by then",
)
