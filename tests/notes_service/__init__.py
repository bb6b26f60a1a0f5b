"""A tiny test-only service ("notes") for exercising the storage layer without a real service."""
