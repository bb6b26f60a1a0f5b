"""identity's schema revisions (applied by `tenantry migrate`)."""
