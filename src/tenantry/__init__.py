"""tenantry: a self-hostable, multi-region, multi-tenant cloud data platform."""
