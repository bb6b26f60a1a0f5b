"""tcs's schema revisions (applied by `tenantry migrate`)."""
