"""A cloud whose kms processes reach customers' AWS KMS keys at a local moto server.

Every AWS variable of the test's own environment is left out, and the AWS configuration files
point nowhere, so boto3 in the cloud finds only the moto server's test credentials.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from tenantry.services.kms.providers.routing import ENDPOINT_VARIABLE

from .cloud import Cloud

AWS_REGION = "eu-west-1"


def start_with_customer_kms(
    folder: Path, endpoint: str, *, config: Path | None = None, key_check_seconds: float = 0
) -> Cloud:
    """Start a cloud in `folder` whose customer keys live at the moto server `endpoint`;
    `key_check_seconds` (when not 0) is how often kms checks each customer key."""
    env = {
        ENDPOINT_VARIABLE: endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if key_check_seconds:
        env["TENANTRY_CUSTOMER_KEY_CHECK_SECONDS"] = str(key_check_seconds)
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            patch.delenv(name)
        patch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
        for name, value in env.items():
            patch.setenv(name, value)
        return Cloud.start(folder / "data", config=config)


def customer_kms_client(endpoint: str) -> Any:
    """A boto3 KMS client of the customer's, on the moto server."""
    return boto3.session.Session().client(
        "kms",
        region_name=AWS_REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
