"""The tenantry command line."""
