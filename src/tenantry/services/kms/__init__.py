"""The per-region key service: wraps each tenant's data keys under a regional or customer key."""
