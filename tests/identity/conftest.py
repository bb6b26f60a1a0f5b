"""identity on SQLite under tmp_path, with tcs and kms faked in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.models import SCHEMA

from .harness import FakeCloud, build_app


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[Databases]:
    databases = Databases(SCHEMA, SqliteBackend(tmp_path / "data"))
    try:
        yield databases
    finally:
        databases.dispose()


@pytest.fixture
def client(tmp_path: Path, databases: Databases, cloud: FakeCloud) -> Iterator[TestClient]:
    signer = TokenSigner(ensure_service_key(tmp_path, "identity"))
    app = build_app(databases, cloud, signer)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
