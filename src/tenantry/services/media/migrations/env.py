"""Alembic's entry point for the media revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.media.models import MediaBase

run_revisions(MediaBase.metadata)
