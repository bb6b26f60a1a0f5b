"""The SDK every tenantry service is built on."""
