"""Alembic's entry point for the audit revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.audit.models import AuditBase

run_revisions(AuditBase.metadata)
