"""Revision scripts, one file per revision, oldest first."""
