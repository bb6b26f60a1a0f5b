"""A tenant flooding the edge is cut off with 429; its neighbours on the shard are not."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import pytest

from .api import signup
from .cloud import Cloud

TIGHT_LIMITS = """
[edge.limits]
per_tenant = "15/minute"
per_client_ip = "1000/minute"
"""


@pytest.fixture(scope="module")
def tight_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    root = tmp_path_factory.mktemp("tight")
    default = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    config = root / "topology.toml"
    config.write_text(default.split("[edge.limits]")[0] + TIGHT_LIMITS)
    cloud = Cloud.start(root / "data", config=config)
    try:
        yield cloud
    finally:
        cloud.stop()


def test_a_flooding_tenant_gets_429_and_its_neighbour_is_served(tight_cloud: Cloud) -> None:
    noisy = signup(tight_cloud, region="us", prefix="noisy")
    quiet = signup(tight_cloud, region="us", prefix="quiet")
    statuses = [noisy.request("GET", "/rest/issues/projects").status_code for _ in range(20)]
    assert statuses[:10] == [200] * 10
    assert statuses[-1] == 429
    refused = noisy.request("GET", "/rest/issues/projects")
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert quiet.request("GET", "/rest/issues/projects").status_code == 200
