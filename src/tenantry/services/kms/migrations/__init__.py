"""The key service's schema revisions (applied by `tenantry migrate`)."""
