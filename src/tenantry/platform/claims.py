"""Names of the tenantry claims a service token carries beyond the ASAP ones."""

TENANT = "tenantry_tenant"
"""The cloud id of the tenant a call acts for; must equal the signed tenant context's."""

USER = "tenantry_user"
"""The account a call acts for, as established by the edge from a user token."""

ROLE = "tenantry_role"
"""That account's role on the site (admin or user)."""
