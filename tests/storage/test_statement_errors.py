"""A statement that fails must not carry its values (tenant text) into the error, or a log."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from backends import fresh_databases
from notes_service.models import SCHEMA, Note
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage.tenant_session import tenant_session

TENANT = TenantContext("tenant-a", "a", "eu", "eu-1", "active")
MARKER = "private-words-of-the-tenant"


@pytest.mark.backend
def test_a_failed_statement_names_no_value(tmp_path: Path) -> None:
    with fresh_databases(SCHEMA, tmp_path) as databases:
        engine = databases.engine_for("eu-1")
        with tenant_scope(TENANT):
            with tenant_session(engine) as session:
                session.add(Note(id="n1", text="first"))
            with pytest.raises(IntegrityError) as refused, tenant_session(engine) as session:
                session.add(Note(id="n1", text=MARKER))
    assert MARKER not in str(refused.value)
    assert "hidden" in str(refused.value)  # SQLAlchemy says the parameters were withheld
