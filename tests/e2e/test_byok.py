"""BYOK through a real cloud: a site moved under its own AWS KMS key while it is served, the
customer revoking that key (the site refused within seconds, its neighbours untouched) and
bringing it back.

The customer's KMS is moto, run by this test outside the cloud's processes, where a disabled key
refuses Encrypt and Decrypt as real KMS does. The cloud's kms processes reach it through
`TENANTRY_CUSTOMER_KMS_ENDPOINT` (dummy credentials) on a loopback port the test can also switch
off altogether and on again; the customer's own admin calls go to a second moto endpoint, so the
keys survive the switch (moto keeps them in this process).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer

from kms.moto_server import moto_kms_server
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import UserContext

from .api import Site, signup
from .cloud import Cloud, tenantry
from .customer_kms_cloud import AWS_REGION, customer_kms_client, start_with_customer_kms
from .service_calls import call_as

pytestmark = pytest.mark.e2e

REVOCATION_LIMIT_SECONDS = 60.0
POLL_SECONDS = 0.1


class CustomerKms:
    """The endpoint the cloud reaches the customer's keys at: moto on a loopback port that the
    test can switch off (connections refused) and on again, on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def switch_on(self) -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self.port = int(server.get_host_and_port()[1])
        self._server = server

    def switch_off(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture(scope="module")
def admin_endpoint() -> Iterator[str]:
    """Where the customer manages its keys (moto, with disabled keys refusing to work)."""
    with moto_kms_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def customer_kms(admin_endpoint: str) -> Iterator[CustomerKms]:
    kms = CustomerKms()
    kms.switch_on()
    try:
        yield kms
    finally:
        kms.switch_off()


@pytest.fixture(scope="module")
def kms_admin(admin_endpoint: str) -> Any:
    """What the customer does to its keys: create, disable, enable."""
    return customer_kms_client(admin_endpoint)


@pytest.fixture(scope="module")
def byok_cloud(
    customer_kms: CustomerKms, tmp_path_factory: pytest.TempPathFactory, storage_backend: str
) -> Iterator[Cloud]:
    """A cloud whose kms processes reach customer keys at the local moto server."""
    cloud = start_with_customer_kms(tmp_path_factory.mktemp("byok"), customer_kms.endpoint)
    try:
        yield cloud
    finally:
        cloud.stop()


def catalog_entry(cloud: Cloud, site: Site) -> dict[str, Any]:
    """The site as tcs describes it, with a freshly signed tenant context."""
    found = call_as(
        cloud,
        "edge",
        "tcs",
        "GET",
        "/internal/tcs/tenants/by-site/{site}",
        params={"site": site.name},
    )
    assert found.status == 200, found.body
    document: dict[str, Any] = found.json()
    return document


def read_directly(cloud: Cloud, site: Site, context: str, issue: str) -> ServiceResponse:
    """Read an issue from the issues service itself, past the edge, with a given context."""
    return call_as(
        cloud,
        "edge",
        "issues",
        "GET",
        "/rest/issues/issues/{key}",
        params={"key": issue},
        region=site.region,
        tenant_context=context,
        tenant_id=site.cloud_id,
        user=UserContext("acct-direct", "admin"),
    )


def neighbour_on_the_same_shard(cloud: Cloud, site: Site) -> Site:
    """Another eu site placed on `site`'s shard (placement alternates between the shards)."""
    shard = catalog_entry(cloud, site)["shard"]
    for _ in range(6):
        other = signup(cloud, region="eu", via="eu", prefix="byok-nb")
        if catalog_entry(cloud, other)["shard"] == shard:
            return other
    raise AssertionError(f"no other site landed on {shard}")


class Reader:
    """Reads one issue of a site over and over in a thread, keeping every status it sees."""

    def __init__(self, cloud: Cloud, site: Site, issue: str) -> None:
        self._cloud = cloud
        self._site = site
        self._path = f"/rest/issues/issues/{issue}"
        self.seen: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self._cloud.http(self._site.region) as http:
            site = self._site.via(http)
            while not self._stop.is_set():
                try:
                    answer = site.request("GET", self._path)
                    code = answer.json().get("error", "") if answer.status_code != 200 else ""
                    self.seen.append((answer.status_code, code))
                except (httpx.HTTPError, ValueError) as exc:
                    self.seen.append((0, type(exc).__name__))
                time.sleep(POLL_SECONDS / 2)

    def failures(self) -> list[tuple[int, str]]:
        return [seen for seen in self.seen if seen[0] != 200]


def wait_for(site: Site, path: str, status: int, code: str = "") -> float:
    """Seconds until `site`'s GET `path` answers `status` (and reason `code`)."""
    started = time.monotonic()
    while time.monotonic() - started < REVOCATION_LIMIT_SECONDS:
        answer = site.request("GET", path)
        if answer.status_code == status and (not code or answer.json().get("error") == code):
            return time.monotonic() - started
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{site.name} did not answer {status} {code} within 60 s")


def keys_byok(cloud: Cloud, *args: str) -> Any:
    return tenantry("keys", "byok", *args, "--data-dir", str(cloud.data_dir), timeout=120)


def _key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def test_byok_online_then_revoke_and_restore(
    byok_cloud: Cloud, kms_admin: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = byok_cloud
    site = signup(cloud, region="eu", via="eu", prefix="byok")
    site.create_project()
    issues = [site.create_issue(f"before byok {n}", f"sealed text {n}")["key"] for n in range(3)]
    neighbour = neighbour_on_the_same_shard(cloud, site)
    neighbour.create_project()
    theirs = neighbour.create_issue("the neighbour's issue", "never affected")["key"]
    arn = kms_admin.create_key(Description=f"{site.name} own key")["KeyMetadata"]["Arn"]

    # The switch happens while the site is read without pause: no request fails.
    with Reader(cloud, site, issues[0]) as reader:
        switched = keys_byok(cloud, site.name, "--aws-kms-key", arn)
        time.sleep(0.5)
    assert switched.returncode == 0, switched.stdout + switched.stderr
    assert f"{site.name}: data keys under {arn}, 1 versions rewrapped" in switched.stdout
    assert reader.seen and reader.failures() == []
    for number, key in enumerate(issues):
        read = site.request("GET", f"/rest/issues/issues/{key}").json()
        assert (read["summary"], read["description"]) == (
            f"before byok {number}",
            f"sealed text {number}",
        )
    later = site.create_issue("after byok", "sealed under the customer's key")["key"]
    stale_context = catalog_entry(cloud, site)["context"]
    assert read_directly(cloud, site, stale_context, later).status == 200  # the key is held

    # The customer disables its key: the site is refused, its neighbour never notices.
    with Reader(cloud, neighbour, theirs) as bystander:
        kms_admin.disable_key(KeyId=_key_id(arn))
        refused_after = wait_for(
            site, f"/rest/issues/issues/{later}", 503, "tenant_key_unavailable"
        )
        with capsys.disabled():
            print(f"\nBYOK revocation: requests refused {refused_after:.2f} s after disable")
        assert refused_after < REVOCATION_LIMIT_SECONDS
        assert catalog_entry(cloud, site)["key_available"] is False
        # Past the edge, with a fresh context, the issues service refuses too, though it still
        # holds the site's key in memory; and sign-in is refused as well.
        direct = read_directly(cloud, site, catalog_entry(cloud, site)["context"], later)
        assert direct.status == 503 and direct.json()["error"] == "tenant_key_unavailable"
        login = site.http.post(
            "/login", json={"site": site.name, "email": f"admin@{site.name}.test", "password": "x"}
        )
        assert login.status_code == 503 and login.json()["error"] == "tenant_key_unavailable"
        # A context signed before the revocation opens nothing for long: kms hands the site's
        # keys out for 30 s at a time and refuses them now.
        started = time.monotonic()
        while read_directly(cloud, site, stale_context, later).status == 200:
            assert time.monotonic() - started < REVOCATION_LIMIT_SECONDS
            time.sleep(1.0)
        stale = read_directly(cloud, site, stale_context, later)
        assert stale.status == 503 and stale.json()["error"] == "tenant_key_unavailable"

        # Suspension is separate: a site suspended meanwhile stays suspended when the key is back.
        suspend = tenantry("tenant", "suspend", site.name, "--data-dir", str(cloud.data_dir))
        assert suspend.returncode == 0, suspend.stderr
        kms_admin.enable_key(KeyId=_key_id(arn))
        started = time.monotonic()
        while catalog_entry(cloud, site)["key_available"] is not True:
            assert time.monotonic() - started < REVOCATION_LIMIT_SECONDS
            time.sleep(POLL_SECONDS)
        restored_after = time.monotonic() - started
        still = site.request("GET", f"/rest/issues/issues/{later}")
        assert still.status_code == 403 and still.json()["error"] == "tenant_suspended"
        assert catalog_entry(cloud, site)["status"] == "suspended"
        resume = tenantry("tenant", "resume", site.name, "--data-dir", str(cloud.data_dir))
        assert resume.returncode == 0, resume.stderr
        wait_for(site, f"/rest/issues/issues/{later}", 200)
    with capsys.disabled():
        print(f"BYOK restore: key usable again after {restored_after:.2f} s")
    assert bystander.seen and bystander.failures() == []

    read = site.request("GET", f"/rest/issues/issues/{later}").json()
    assert read["description"] == "sealed under the customer's key"
    assert site.request("GET", f"/rest/issues/issues/{issues[2]}").json()["summary"] == (
        "before byok 2"
    )


def test_byok_with_a_bad_or_unusable_key_is_a_cli_error_and_changes_nothing(
    byok_cloud: Cloud, kms_admin: Any
) -> None:
    cloud = byok_cloud
    site = signup(cloud, region="eu", via="eu", prefix="byok-bad")
    site.create_project()
    key = site.create_issue("stays readable", "under the root key")["key"]

    bad = keys_byok(cloud, site.name, "--aws-kms-key", "arn:aws:kms:nowhere")
    assert bad.returncode == 1
    assert "invalid_key_arn" in bad.stderr and "Traceback" not in bad.stderr

    unknown = f"arn:aws:kms:{AWS_REGION}:123456789012:key/00000000-0000-0000-0000-000000000000"
    missing = keys_byok(cloud, site.name, "--aws-kms-key", unknown)
    assert missing.returncode == 1
    assert "customer_key_unusable" in missing.stderr

    disabled = kms_admin.create_key()["KeyMetadata"]["Arn"]
    kms_admin.disable_key(KeyId=_key_id(disabled))
    refused = keys_byok(cloud, site.name, "--aws-kms-key", disabled)
    assert refused.returncode == 1
    assert "disabled" in refused.stderr

    neither = keys_byok(cloud, site.name)
    assert neither.returncode == 2
    nowhere = keys_byok(cloud, "no-such-site-x", "--aws-kms-key", disabled)
    assert nowhere.returncode == 1 and "unknown_site" in nowhere.stderr

    assert catalog_entry(cloud, site)["key_available"] is True
    read = site.request("GET", f"/rest/issues/issues/{key}")
    assert read.status_code == 200 and read.json()["summary"] == "stays readable"


def test_byok_off_goes_back_to_the_root_key(byok_cloud: Cloud, kms_admin: Any) -> None:
    cloud = byok_cloud
    site = signup(cloud, region="eu", via="eu", prefix="byok-off")
    site.create_project()
    key = site.create_issue("round trip", "root, customer, root")["key"]
    arn = kms_admin.create_key()["KeyMetadata"]["Arn"]
    assert keys_byok(cloud, site.name, "--aws-kms-key", arn).returncode == 0
    off = keys_byok(cloud, site.name, "--off")
    assert off.returncode == 0, off.stderr
    assert "under the region's root key" in off.stdout
    # The customer's key can go now: kms no longer needs it for this site's keys.
    kms_admin.disable_key(KeyId=_key_id(arn))
    entry = catalog_entry(cloud, site)
    fetched = call_as(
        cloud,
        "issues",
        "kms",
        "GET",
        "/internal/kms/data-key",
        region=site.region,
        tenant_context=entry["context"],
        tenant_id=site.cloud_id,
    )
    assert fetched.status == 200, fetched.body
    assert fetched.json()["max_age"] == 300
    read = site.request("GET", f"/rest/issues/issues/{key}")
    assert read.status_code == 200 and read.json()["description"] == "root, customer, root"


def test_a_switched_off_customer_kms_takes_only_its_site_offline_until_it_is_back(
    byok_cloud: Cloud, customer_kms: CustomerKms, kms_admin: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = byok_cloud
    site = signup(cloud, region="eu", via="eu", prefix="byok-dark")
    site.create_project()
    key = site.create_issue("held by the customer", "their KMS, their switch")["key"]
    neighbour = neighbour_on_the_same_shard(cloud, site)
    neighbour.create_project()
    theirs = neighbour.create_issue("next door", "keeps working")["key"]
    arn = kms_admin.create_key()["KeyMetadata"]["Arn"]
    assert keys_byok(cloud, site.name, "--aws-kms-key", arn).returncode == 0

    with Reader(cloud, neighbour, theirs) as bystander:
        customer_kms.switch_off()
        try:
            dark_after = wait_for(site, f"/rest/issues/issues/{key}", 503, "tenant_key_unavailable")
        finally:
            customer_kms.switch_on()
        with capsys.disabled():
            print(f"\nBYOK customer KMS switched off: refused after {dark_after:.2f} s")
        assert dark_after < REVOCATION_LIMIT_SECONDS
        wait_for(site, f"/rest/issues/issues/{key}", 200)
    assert bystander.seen and bystander.failures() == []
    read = site.request("GET", f"/rest/issues/issues/{key}").json()
    assert read["description"] == "their KMS, their switch"
