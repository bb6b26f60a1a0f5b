"""The audit service: each region's tamper-evident log of what happened to its tenants."""
