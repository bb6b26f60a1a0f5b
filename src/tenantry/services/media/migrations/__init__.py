"""Alembic revisions of the media service."""
