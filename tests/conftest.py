"""Run-wide set-up: the shared cloud, and dropping the PostgreSQL databases this run made."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from backends import drop_run_databases
from e2e.cloud import FLEET, REGIONS, Cloud
from tenantry.platform.storage.sqlite import SYNCHRONOUS_ENV

# The suite's clouds are thrown away: their SQLite commits need not survive a power loss, and
# syncing each one would cost a third of the run. The default (FULL) has its own test.
os.environ.setdefault(SYNCHRONOUS_ENV, "normal")


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases_of_this_run() -> Iterator[None]:
    yield
    drop_run_databases()


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A running `tenantry up` in the default layout, shared by the end-to-end tests of one
    test process: the one the functional tests run against.

    Starting its processes is slow, so tests share it. Each signs up sites of its own (unique
    names), so they cannot see each other's data; a test that stops, kills or reconfigures a
    cloud starts its own. Stopped (exit 0 checked) when the run ends.
    """
    running = Cloud.start(tmp_path_factory.mktemp("cloud") / "data", layout=REGIONS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def fleet_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A running `tenantry up --process-per-service`, shared like `cloud`: what the security
    tests attack (every call between services crosses the network there, signed), and where a
    test may freeze one service's process."""
    running = Cloud.start(tmp_path_factory.mktemp("fleet-cloud") / "data", layout=FLEET)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=[REGIONS, FLEET], scope="module")
def each_layout(request: pytest.FixtureRequest) -> Cloud:
    """The shared cloud of each layout in turn, for tests that must hold in both."""
    name = "cloud" if request.param == REGIONS else "fleet_cloud"
    found: Cloud = request.getfixturevalue(name)
    return found
