"""tcs, the tenant context service: the catalog of tenants and the signer of tenant contexts."""
