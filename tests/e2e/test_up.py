"""`tenantry up` and `tenantry status` against a real cloud in the default layout: a process per
region and one for the global services, with a listener per service.

The tests share a cloud of their own (not the session's); the last one stops it with Ctrl-C, so
it stays last in the file.
"""

from __future__ import annotations

import grp
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backends import BACKEND
from tenantry.platform.topology import load_topology

from .cloud import Cloud, tenantry

pytestmark = pytest.mark.e2e

TOPOLOGY = load_topology(None)
REGIONS = set(TOPOLOGY.regions)
SERVICE_KEYS = ("identity", "tcs", "edge", "issues", "operator")
URL = re.compile(r"^https://127\.0\.0\.1:\d{1,5}$")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """This module's own cloud, since its last test stops it."""
    running = Cloud.start(tmp_path_factory.mktemp("up-cloud") / "data", backups=True)
    try:
        yield running
    finally:
        running.stop(check=False)


def process_urls(cloud: Cloud) -> dict[str, str]:
    """Every process's URL from `run/directory.json`, by process name (`tcs`, `edge-eu`)."""
    urls = {}
    for service, regions in cloud.directory()["services"].items():
        for region, url in regions.items():
            urls[service if region == "global" else f"{service}-{region}"] = url
    return urls


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_cloud_json_has_exactly_the_documented_shape(cloud: Cloud) -> None:
    document = cloud.cloud_json()

    assert set(document) == {"edges", "ca"}
    assert set(document["edges"]) == REGIONS
    assert all(URL.match(url) for url in document["edges"].values())
    assert len(set(document["edges"].values())) == len(REGIONS)
    assert document["ca"] == str(cloud.data_dir / "tls" / "ca.pem")
    assert Path(document["ca"]).is_file()


def test_the_directory_names_every_service_and_the_process_it_runs_in(cloud: Cloud) -> None:
    directory = cloud.directory()

    assert directory["ca"] == cloud.ca
    services = {name: set(regions) for name, regions in directory["services"].items()}
    assert services == {
        "identity": {"global"},
        "tcs": {"global"},
        "edge": REGIONS,
        "issues": REGIONS,
        "kms": REGIONS,
        "media": REGIONS,
        "backup": REGIONS,
        "audit": REGIONS,
        "pages": REGIONS,
        "analytics": REGIONS,
        "privacy": REGIONS,
    }
    assert directory["services"]["edge"] == cloud.edges
    assert set(cloud.pids()) == {"global", *(f"region-{region}" for region in REGIONS)}
    for service, regions in directory["services"].items():
        for region in regions:
            expected = "global" if region == "global" else f"region-{region}"
            assert cloud.process_of(service, region) == expected


def test_every_process_answers_health_over_tls(cloud: Cloud) -> None:
    with httpx.Client(verify=cloud.ssl_context(), timeout=5.0, trust_env=False) as client:
        for name, url in process_urls(cloud).items():
            response = client.get(f"{url}/_health")
            assert response.status_code == 200, name
    for region in REGIONS:
        with cloud.http(region) as edge:
            assert edge.get("/_health").status_code == 200


def test_listeners_speak_only_tls_with_a_certificate_from_the_cloud_ca(cloud: Cloud) -> None:
    stranger = ssl.create_default_context()  # the system trust store, not the cloud's CA
    for name, url in process_urls(cloud).items():
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{url}/_health", verify=stranger, trust_env=False, timeout=5.0)
        plain = url.replace("https://", "http://")
        with pytest.raises(httpx.HTTPError):
            response = httpx.get(f"{plain}/_health", trust_env=False, timeout=5.0)
            pytest.fail(f"{name} answered plain HTTP with {response.status_code}")


def _listening(port: int) -> set[str]:
    """Hex local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:
                addresses.add(address)
    return addresses


def test_every_listener_binds_loopback_only(cloud: Cloud) -> None:
    for name, url in process_urls(cloud).items():
        port = int(url.rsplit(":", 1)[1])
        assert _listening(port) == {"0100007F"}, name  # 127.0.0.1, and no other address


def test_private_keys_are_0600_in_0700_directories(cloud: Cloud) -> None:
    root = cloud.data_dir
    if BACKEND == "postgres" and mode(root) != 0o700:
        # pgBackRest runs as the server's user, which must pass through (never list) the data
        # directory to reach its repositories: search permission for that user's group alone.
        assert mode(root) == 0o710
        assert root.stat().st_gid == grp.getgrnam("postgres").gr_gid
    else:
        assert mode(root) == 0o700
    assert mode(root / "keys" / "private") == 0o700
    for identity in SERVICE_KEYS:
        key_dir = root / "keys" / "private" / identity
        assert mode(key_dir) == 0o700, identity
        assert mode(key_dir / "k1.pem") == 0o600, identity
        assert (root / "keys" / "public" / identity / "k1.pem").is_file(), identity
    tls_dir = root / "tls"
    assert mode(tls_dir) == 0o700
    for name in ["ca", *cloud.pids()]:
        assert mode(tls_dir / f"{name}-key.pem") == 0o600, name
        assert (tls_dir / f"{name}.pem").is_file(), name
    assert mode(root / "logs") == 0o700
    assert all(mode(log) == 0o600 for log in (root / "logs").glob("*.log"))


def test_a_second_up_on_the_same_directory_is_refused(cloud: Cloud) -> None:
    published = cloud.cloud_json()
    directory = cloud.directory()

    second = tenantry("up", "--data-dir", str(cloud.data_dir))

    assert second.returncode != 0
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr
    assert cloud.running
    assert cloud.cloud_json() == published
    assert cloud.directory() == directory
    with cloud.http(next(iter(REGIONS))) as edge:
        assert edge.get("/_health").status_code == 200


def test_status_shows_regions_shards_and_processes(cloud: Cloud) -> None:
    result = tenantry("status", "--data-dir", str(cloud.data_dir))

    assert result.returncode == 0, result.stdout + result.stderr
    for region in cloud.topology().regions.values():
        assert region.name in result.stdout
        for zone in region.zones:
            assert zone in result.stdout
        for shard in region.shards:
            assert shard.name in result.stdout
    for name in process_urls(cloud):
        assert re.search(rf"{name}\s.*\sup\s", result.stdout), name
    assert "down" not in result.stdout
    assert re.search(r"Tenants: \d+", result.stdout)  # tcs answered the operator's /stats


def test_ctrl_c_stops_every_child_then_status_reports_no_cloud(cloud: Cloud) -> None:
    pids = cloud.pids()
    assert len(pids) == 1 + len(REGIONS)

    cloud.stop()

    still_running = [name for name, pid in pids.items() if Path(f"/proc/{pid}").exists()]
    assert still_running == []
    assert not (cloud.data_dir / "cloud.json").exists()
    assert not (cloud.data_dir / "run" / "pids.json").exists()
    status = tenantry("status", "--data-dir", str(cloud.data_dir))
    assert status.returncode in (1, 2)
    assert "Traceback" not in status.stdout + status.stderr
