"""One real cloud per test module: starting its processes is slow, so tests share it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cloud import Cloud


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A running `tenantry up` in a fresh data directory, stopped (exit 0 checked) at the end."""
    running = Cloud.start(tmp_path_factory.mktemp("cloud") / "data")
    try:
        yield running
    finally:
        running.stop()
