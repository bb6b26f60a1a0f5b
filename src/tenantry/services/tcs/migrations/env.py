"""Alembic's entry point for tcs's revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.tcs.catalog import metadata

run_revisions(metadata)
