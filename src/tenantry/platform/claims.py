"""Names of the tenantry claims a service token carries beyond the ASAP ones."""

TENANT = "tenantry_tenant"
"""The cloud id of the tenant a call acts for; must equal the signed tenant context's."""

USER = "tenantry_user"
"""The account a call acts for, as established by the edge from a user token."""

ROLE = "tenantry_role"
"""That account's current role on the site (admin, member or viewer), as the edge learnt it."""

USER_TOKEN = "tenantry_user_token"  # noqa: S105 (a claim name, not a secret)
"""The `jti` of the user token the edge received the request with (what logout revokes)."""

TOKEN_GENERATION = "tenantry_token_generation"  # noqa: S105 (a claim name)
"""In a user token: its account's token generation when it was issued. Revoking every token of
an account raises the generation, so older tokens no longer match."""
