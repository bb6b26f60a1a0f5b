"""Alembic's entry point for the privacy revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.privacy.models import PrivacyBase

run_revisions(PrivacyBase.metadata)
