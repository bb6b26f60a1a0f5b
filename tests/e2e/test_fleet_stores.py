"""A cloud set up as a fleet keeps token ids and rate counts in Redis, and refuses when it is gone.

The Redis here is one this test starts on a port of its own, so it can be stopped and started
again; nothing else uses it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from loopback_ports import unused_port

from .api import PASSWORD, add_account, signup
from .cloud import FLEET, Cloud

pytestmark = pytest.mark.backend_neutral


class OwnRedis:
    """A redis-server on a loopback port, keeping nothing on disk."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server is not None, "make test installs redis-server"
        options = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        options += ["--appendonly", "no", "--dir", str(self.workdir)]
        self.process = subprocess.Popen([server, *options], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def keys(self, pattern: str) -> list[bytes]:
        client = redis.Redis(port=self.port)
        try:
            return list(client.scan_iter(match=pattern))
        finally:
            client.close()


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    server = OwnRedis(unused_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fleet_cloud(
    tmp_path_factory: pytest.TempPathFactory, own_redis: OwnRedis, storage_backend: str
) -> Iterator[Cloud]:
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    cloud = Cloud.start(
        tmp_path_factory.mktemp("fleet") / "data", env={"TENANTRY_REDIS_URL": url}, layout=FLEET
    )
    try:
        yield cloud
    finally:
        cloud.stop()


def test_failed_logins_are_counted_in_redis_so_every_edge_throttles(
    fleet_cloud: Cloud, own_redis: OwnRedis
) -> None:
    site = signup(fleet_cloud, region="eu")
    _, email = add_account(site)
    guess = {"site": site.name, "email": email}
    for n in range(5):  # the default lets five failures a minute through
        wrong = fleet_cloud.http("us").post("/login", json={**guess, "password": f"guess {n}"})
        assert wrong.status_code == 401, wrong.text
    assert own_redis.keys("tenantry-limits*login-account*"), "no failure was counted in Redis"
    for region in ("eu", "au"):  # edges that saw none of the failures
        right = fleet_cloud.http(region).post("/login", json={**guess, "password": PASSWORD})
        assert right.status_code == 429, (region, right.text)
        assert right.json()["error"] == "login_throttled"


def test_token_ids_and_rate_counts_live_in_redis_and_a_lost_redis_fails_closed(
    fleet_cloud: Cloud, own_redis: OwnRedis
) -> None:
    site = signup(fleet_cloud, region="eu")
    site.create_project()
    created = site.create_issue("kept in a fleet")
    assert site.request("GET", f"/rest/issues/issues/{created['key']}").status_code == 200
    assert own_redis.keys("tenantry:jti:issues:*"), "issues recorded no token id in Redis"
    assert own_redis.keys("tenantry-limits*"), "the edge counted nothing in Redis"

    own_redis.stop()
    refused = site.request("GET", f"/rest/issues/issues/{created['key']}")
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "rate_limit_store_unavailable"
    assert refused.headers["retry-after"] == "1"

    own_redis.start()  # back on the same port: the same cloud serves again, nothing lost
    path = f"/rest/issues/issues/{created['key']}"
    deadline = time.monotonic() + 15
    while (again := site.request("GET", path)).status_code != 200:
        assert time.monotonic() < deadline, again.text
        time.sleep(0.2)
    assert again.json()["summary"] == "kept in a fleet"
