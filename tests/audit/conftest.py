"""The audit tests' clouds reach customer keys at a moto server of their module's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kms.moto_server import moto_kms_server


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    with moto_kms_server() as endpoint:
        yield endpoint
