"""Alembic's entry point for the kms revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.kms.models import KmsBase

run_revisions(KmsBase.metadata)
