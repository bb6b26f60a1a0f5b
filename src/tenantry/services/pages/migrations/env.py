"""Alembic's entry point for the pages revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.pages.models import PagesBase

run_revisions(PagesBase.metadata)
