"""Run-wide set-up: the shared clouds, which tests run on each backend, and dropping the
PostgreSQL databases this run made."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import backends
from backends import BACKEND, drop_run_databases
from e2e.cloud import FLEET, REGIONS, Cloud
from tenantry.platform.storage.sqlite import SYNCHRONOUS_ENV

# The suite's clouds are thrown away: their SQLite commits need not survive a power loss, and
# syncing each one would cost a third of the run. The default (FULL) has its own test.
os.environ.setdefault(SYNCHRONOUS_ENV, "normal")


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_databases_of_this_run() -> Iterator[None]:
    yield
    drop_run_databases()


# Which tests run on each backend (see tests/backends.py): those using `storage_backend`.


@pytest.fixture(scope="session")
def storage_backend() -> str:
    """The storage backend of this run ("sqlite" or "postgres"). A test or fixture that stores
    data on it uses this fixture, which marks the test to run again on PostgreSQL."""
    return BACKEND


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        neutral = item.get_closest_marker(backends.NEUTRAL) is not None
        if neutral and item.get_closest_marker(backends.MARKER) is not None:
            raise pytest.UsageError(f"{item.nodeid} is marked both backend and backend_neutral")
        if backends.FIXTURE in getattr(item, "fixturenames", ()) and not neutral:
            item.add_marker(backends.MARKER)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    backends.running_test(
        item.get_closest_marker(backends.MARKER) is not None
        or item.get_closest_marker(backends.NEUTRAL) is not None
    )
    try:
        return (yield)
    finally:
        backends.running_test(None)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """A running `tenantry up` in the default layout, shared by the end-to-end tests of one
    test process: the one the functional tests run against.

    Starting its processes is slow, so tests share it. Each signs up sites of its own (unique
    names), so they cannot see each other's data; a test that stops, kills or reconfigures a
    cloud starts its own. Stopped (exit 0 checked) when the run ends. It runs no backup agents
    (Litestream alone would cost the run a tenth of a core for as long as it lasts): the
    clouds of the backup tests, and `up`'s own test, run them beside live traffic.
    """
    running = Cloud.start(tmp_path_factory.mktemp("cloud") / "data", layout=REGIONS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def fleet_cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """A running `tenantry up --process-per-service`, shared like `cloud`: what the security
    tests attack (every call between services crosses the network there, signed), and where a
    test may freeze one service's process. It runs no backups (`cloud` does)."""
    running = Cloud.start(tmp_path_factory.mktemp("fleet-cloud") / "data", layout=FLEET)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=[REGIONS, FLEET], scope="module")
def each_layout(request: pytest.FixtureRequest, storage_backend: str) -> Cloud:
    """The shared cloud of each layout in turn, for tests that must hold in both."""
    name = "cloud" if request.param == REGIONS else "fleet_cloud"
    found: Cloud = request.getfixturevalue(name)
    return found
