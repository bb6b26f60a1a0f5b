"""Run-wide set-up: PostgreSQL databases and roles made by this run are dropped at its end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backends import drop_run_databases


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases_of_this_run() -> Iterator[None]:
    yield
    drop_run_databases()
