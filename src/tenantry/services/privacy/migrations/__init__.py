"""The privacy service's schema revisions (applied by `tenantry migrate`)."""
