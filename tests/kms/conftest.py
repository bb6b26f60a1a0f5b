"""Key providers on tmp_path, and a local moto KMS with dummy credentials (never real AWS)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from backends import fresh_databases
from tenantry.platform.storage import Databases
from tenantry.services.kms.models import SCHEMA
from tenantry.services.kms.providers import AwsKmsKeyProvider, LocalKeyProvider

from .moto_server import moto_kms_server
from .service_app import REGION as SERVICE_REGION
from .service_app import build_app

REGION = "eu-west-1"


@pytest.fixture
def local(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "keys")


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    with moto_kms_server() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only dummy credentials are visible: no profile, config file or instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")


@pytest.fixture(scope="module")
def kms_admin(kms_endpoint: str) -> Any:
    """What a customer or operator does to their keys: create, disable, schedule deletion."""
    return boto3.session.Session().client(
        "kms",
        region_name=REGION,
        endpoint_url=kms_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def aws(aws_env: None, kms_endpoint: str) -> AwsKmsKeyProvider:
    return AwsKmsKeyProvider(REGION, endpoint_url=kms_endpoint)


@pytest.fixture
def kms_key(kms_admin: Any) -> str:
    """A fresh symmetric KMS key's ARN."""
    return str(kms_admin.create_key(Description="tenant root key")["KeyMetadata"]["Arn"])


@pytest.fixture
def databases(tmp_path: Path, storage_backend: str) -> Iterator[Databases]:
    """kms's tables, fresh for the test, on the backend under test."""
    with fresh_databases(SCHEMA, tmp_path) as dbs:
        yield dbs


@pytest.fixture
def provider(tmp_path: Path) -> LocalKeyProvider:
    """The local root-key provider of the test region."""
    return LocalKeyProvider(tmp_path / "kms" / SERVICE_REGION)


@pytest.fixture
def client(databases: Databases, provider: LocalKeyProvider) -> Iterator[TestClient]:
    """The kms routes on a bare app, the tenant taken from `x-test-*` headers."""
    with TestClient(build_app(databases, provider), raise_server_exceptions=False) as test_client:
        yield test_client
