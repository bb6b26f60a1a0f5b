"""Alembic's entry point for identity's revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.identity.models import IdentityBase

run_revisions(IdentityBase.metadata)
