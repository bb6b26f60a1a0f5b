"""Alembic's entry point for the analytics revisions: run them on the connection given."""

from tenantry.platform.storage.migrations import run_revisions
from tenantry.services.analytics.models import AnalyticsBase

run_revisions(AnalyticsBase.metadata)
