"""Alembic's entry point for the issues revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.issues.models import IssuesBase

run_revisions(IssuesBase.metadata)
