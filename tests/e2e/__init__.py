"""End-to-end tests: each module runs a real `tenantry up` and talks to it over TLS."""
