"""The issues service's schema revisions (applied by `tenantry migrate`)."""
